"""OpenVINO on the CPU: the checkpoint's ONNX export (``camserve.models.export``), compiled by OpenVINO, in fp32
or in bf16 where the CPU computes bf16 natively. No torch once the export exists.

``auto`` precision is fp32: a reduced precision is served only when asked for (``CAMSERVE_PRECISION=bf16``),
until an accuracy gate decides it. bf16 is refused on CPUs without native bf16 (OpenVINO would emulate it,
slower than fp32).
"""

import threading
from pathlib import Path

import numpy as np
import openvino

from camserve.models.export import INPUT_NAME, OUTPUT_NAMES, cached_onnx_export
from camserve.models.hardware import usable_cores
from camserve.models.metadata import ModelMetadata, load_metadata
from camserve.models.predictor import Precision, Prediction, check_batch
from camserve.models.runtimes import AUTO, RuntimeRequest

__all__ = ["OpenVinoPredictor", "load", "native_bf16"]

_INFERENCE_PRECISION = {"fp32": "f32", "bf16": "bf16"}


def native_bf16(core: openvino.Core) -> bool:
    """Whether OpenVINO runs bf16 natively on this CPU (avx512_bf16 or AMX), as the plugin itself reports."""
    return "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")


class OpenVinoPredictor:
    """One compiled model and one infer request; ``predict`` is safe to call from any thread."""

    runtime = "openvino"
    device = "cpu"
    hook_count = 0  # no hooks: the maps are a graph output

    def __init__(
        self, core: openvino.Core, onnx_path: Path, metadata: ModelMetadata, precision: Precision, threads: int
    ) -> None:
        self.metadata = metadata
        self.precision: Precision = precision
        config = {
            "INFERENCE_PRECISION_HINT": _INFERENCE_PRECISION[precision],
            # One request at a time on all the cores, as the other runtimes run: the batcher makes the batches.
            "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": "1",
            "INFERENCE_NUM_THREADS": str(threads),
        }
        compiled = core.compile_model(core.read_model(onnx_path), "CPU", config)
        self._request = compiled.create_infer_request()
        self._outputs = [compiled.output(name) for name in OUTPUT_NAMES]
        self._lock = threading.Lock()

    def predict(self, batch: np.ndarray) -> list[Prediction]:
        check_batch(batch)
        images = np.ascontiguousarray(batch, dtype=np.float32)
        with self._lock:  # one forward at a time: they share the cores
            results = self._request.infer({INPUT_NAME: images})
            log_probs, maps = (np.array(results[output], dtype=np.float32) for output in self._outputs)
        probabilities = np.exp(log_probs)
        return [Prediction(p, m) for p, m in zip(probabilities, maps, strict=True)]


def load(request: RuntimeRequest) -> OpenVinoPredictor:
    if request.device not in (AUTO, "cpu") or request.precision == "fp16":
        raise RuntimeError(
            f"backend 'openvino' runs fp32 or bf16 on the CPU, not {request.precision} on {request.device}"
        )
    core = openvino.Core()
    precision: Precision = "bf16" if request.precision == "bf16" else "fp32"
    if precision == "bf16" and not native_bf16(core):
        raise RuntimeError("backend 'openvino': this CPU has no native bf16 (no avx512_bf16 or AMX); use fp32")
    metadata = load_metadata(request.weights_path)  # first: a missing or bad checkpoint fails in its words
    onnx_path = cached_onnx_export(request.weights_path, request.cache_dir)
    return OpenVinoPredictor(core, onnx_path, metadata, precision, threads=usable_cores())
