"""Where and at what precision the network runs: CUDA with half precision, else CPU (bf16 only with AMX)."""

from contextlib import AbstractContextManager, nullcontext
from typing import Literal

import torch

DeviceChoice = Literal["auto", "cpu", "cuda"]
PrecisionChoice = Literal["auto", "fp32", "bf16", "fp16"]
Precision = Literal["fp32", "bf16", "fp16"]
BackendChoice = Literal["auto", "torch", "onnxruntime"]
Backend = Literal["torch", "onnxruntime"]

_AUTOCAST_DTYPES: dict[str, torch.dtype] = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(choice: DeviceChoice) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but no CUDA device is available")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def cpu_has_fast_bf16() -> bool:
    """bf16 autocast pays off on CPUs with AMX tiles; without them it is emulated and many times slower."""
    return bool(torch.cpu._is_amx_tile_supported())


def resolve_precision(choice: PrecisionChoice, device: torch.device) -> Precision:
    if choice == "fp16" and device.type == "cpu":
        raise RuntimeError("precision 'fp16' is supported on CUDA only; use 'bf16' or 'fp32' on CPU")
    if choice != "auto":
        return choice
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_has_fast_bf16() else "fp32"


def autocast(device: torch.device, precision: Precision) -> AbstractContextManager[object]:
    if precision == "fp32":
        return nullcontext()
    return torch.autocast(device.type, dtype=_AUTOCAST_DTYPES[precision])


def resolve_backend(choice: BackendChoice, device: torch.device, precision: Precision) -> Backend:
    """'auto' runs fp32 on the CPU with ONNX Runtime (faster here, see models/onnx_backend.py), all else with torch."""
    onnx_fits = device.type == "cpu" and precision == "fp32"
    if choice == "onnxruntime" and not onnx_fits:
        raise RuntimeError(f"backend 'onnxruntime' runs fp32 on the CPU only, not {precision} on {device.type}")
    if choice != "auto":
        return choice
    return "onnxruntime" if onnx_fits else "torch"
