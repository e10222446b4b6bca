"""Precision is chosen by what the hardware does fast, and impossible requests fail clearly."""

import pytest
import torch

from models import runtime


def test_cpu_auto_precision_follows_amx(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    monkeypatch.setattr(runtime, "cpu_has_fast_bf16", lambda: True)
    assert runtime.resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(runtime, "cpu_has_fast_bf16", lambda: False)
    assert runtime.resolve_precision("auto", cpu) == "fp32"


def test_explicit_precision_wins() -> None:
    assert runtime.resolve_precision("bf16", torch.device("cpu")) == "bf16"


def test_fp16_on_cpu_is_refused() -> None:
    with pytest.raises(RuntimeError, match="CUDA only"):
        runtime.resolve_precision("fp16", torch.device("cpu"))


def test_cuda_requested_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="no CUDA device"):
        runtime.resolve_device("cuda")
    assert runtime.resolve_device("auto") == torch.device("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_auto_uses_half_precision() -> None:
    assert runtime.resolve_precision("auto", torch.device("cuda")) in {"bf16", "fp16"}


@pytest.mark.parametrize(
    ("device", "precision", "backend"),
    [("cpu", "fp32", "onnxruntime"), ("cpu", "bf16", "torch"), ("cuda", "fp16", "torch"), ("cuda", "fp32", "torch")],
)
def test_auto_backend_is_onnxruntime_for_cpu_fp32_only(device: str, precision: str, backend: str) -> None:
    assert runtime.resolve_backend("auto", torch.device(device), precision) == backend


def test_explicit_torch_backend_wins() -> None:
    assert runtime.resolve_backend("torch", torch.device("cpu"), "fp32") == "torch"


@pytest.mark.parametrize(("device", "precision"), [("cpu", "bf16"), ("cuda", "fp32")])
def test_onnxruntime_outside_cpu_fp32_is_refused(device: str, precision: str) -> None:
    with pytest.raises(RuntimeError, match="fp32 on the CPU only"):
        runtime.resolve_backend("onnxruntime", torch.device(device), precision)
