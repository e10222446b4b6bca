"""Torch's device and precision: chosen by what the hardware does fast, and impossible requests fail clearly."""

import pytest
import torch

from camserve.models import devices


def test_cpu_auto_precision_follows_amx(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    monkeypatch.setattr(devices, "cpu_has_amx", lambda: True)
    assert devices.resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(devices, "cpu_has_amx", lambda: False)
    assert devices.resolve_precision("auto", cpu) == "fp32"


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
