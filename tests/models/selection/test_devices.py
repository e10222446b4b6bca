"""Torch's device and precision: chosen by what the hardware does fast, and impossible requests fail clearly."""

import time
from collections.abc import Callable

import pytest
import torch
from torch import nn

from camserve.models.inference.predictor import Precision
from camserve.models.selection import devices


def _step_taking(seconds: dict[str, float]) -> Callable[[Precision], None]:
    return lambda precision: time.sleep(seconds[precision])


def test_cpu_auto_precision_is_the_faster_measured() -> None:
    cpu = torch.device("cpu")
    assert devices.resolve_precision("auto", cpu, _step_taking({"fp32": 0.02, "bf16": 0.005})) == "bf16"
    assert devices.resolve_precision("auto", cpu, _step_taking({"fp32": 0.005, "bf16": 0.02})) == "fp32"


def test_bf16_must_be_clearly_faster_to_win() -> None:
    """A tie keeps fp32: bf16's rounding has to buy real speed."""
    assert devices.fastest_cpu_precision(_step_taking({"fp32": 0.01, "bf16": 0.0095})) == "fp32"


def test_cpu_auto_precision_without_a_step_is_fp32() -> None:
    assert devices.resolve_precision("auto", torch.device("cpu")) == "fp32"


def test_training_step_leaves_the_network_untouched() -> None:
    network = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    before = {k: v.clone() for k, v in network.state_dict().items()}
    step = devices.training_step(network, torch.randn(2, 3, 8, 8))
    for precision in ("fp32", "bf16"):
        step(precision)
    assert all(torch.equal(before[k], v) for k, v in network.state_dict().items())  # running stats included
    assert all(p.grad is None for p in network.parameters())


def test_a_resumed_run_keeps_its_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    """No timing at all: the saved precision wins, so the remaining epochs compute as the first ones did."""
    monkeypatch.setattr(devices, "fastest_cpu_precision", lambda step: pytest.fail("a resumed run was timed"))
    network = nn.Conv2d(3, 2, 1)
    assert devices.training_precision("auto", network, (1, 3, 4, 4), {"precision": "bf16"}) == "bf16"
    with pytest.raises(RuntimeError, match="CUDA only"):
        devices.training_precision("auto", network, (1, 3, 4, 4), {"precision": "fp16"})


def test_a_new_run_times_a_step_of_its_own_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    shapes = []
    network = nn.Conv2d(3, 2, 1)
    network.register_forward_pre_hook(lambda _module, inputs: shapes.append(tuple(inputs[0].shape)))
    monkeypatch.setattr(devices, "fastest_cpu_precision", lambda step: step("fp32") or "fp32")
    assert devices.training_precision("auto", network, (2, 3, 5, 5), None) == "fp32"
    assert shapes == [(2, 3, 5, 5)]  # the timed copy keeps the network's hooks


def test_explicit_precision_wins() -> None:
    assert devices.resolve_precision("bf16", torch.device("cpu")) == "bf16"


def test_fp16_on_cpu_is_refused() -> None:
    with pytest.raises(RuntimeError, match="CUDA only"):
        devices.resolve_precision("fp16", torch.device("cpu"))


def test_cuda_requested_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="no CUDA device"):
        devices.resolve_device("cuda")
    assert devices.resolve_device("auto") == torch.device("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_auto_uses_half_precision() -> None:
    assert devices.resolve_precision("auto", torch.device("cuda")) in {"bf16", "fp16"}
