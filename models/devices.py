"""Where and at what precision torch runs the network: CUDA with half precision, else CPU (bf16 only with AMX).

Shared by training and the PyTorch runtime; the other runtimes choose their own.
"""

from contextlib import AbstractContextManager, nullcontext

import torch

from camserve.models.hardware import cpu_has_amx
from camserve.models.predictor import DeviceChoice, Precision, PrecisionChoice

__all__ = ["DeviceChoice", "Precision", "PrecisionChoice", "autocast", "resolve_device", "resolve_precision"]

_AUTOCAST_DTYPES: dict[str, torch.dtype] = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(choice: DeviceChoice) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but no CUDA device is available")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def resolve_precision(choice: PrecisionChoice, device: torch.device) -> Precision:
    if choice == "int8":
        raise RuntimeError("precision 'int8' is served by the openvino runtime (camserve quantize makes it)")
    if choice == "fp16" and device.type == "cpu":
        raise RuntimeError("precision 'fp16' is supported on CUDA only; use 'bf16' or 'fp32' on CPU")
    if choice != "auto":
        return choice
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    # bf16 autocast pays off on CPUs with AMX tiles; without them it is emulated and many times slower.
    return "bf16" if cpu_has_amx() else "fp32"


def autocast(device: torch.device, precision: Precision) -> AbstractContextManager[object]:
    if precision == "fp32":
        return nullcontext()
    return torch.autocast(device.type, dtype=_AUTOCAST_DTYPES[precision])
