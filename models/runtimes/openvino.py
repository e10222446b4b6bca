"""OpenVINO on the CPU: fp32 and bf16 from the checkpoint's ONNX export (``camserve.models.graphs.export``), int8
from the graph ``camserve quantize`` made beside the weights. No torch once the export exists.

int8 is served only while the gate record beside the weights (``camserve.models.evaluation.gate``) says it passed, for
these weights and this very graph. bf16 is refused on CPUs without native bf16 (OpenVINO would emulate it,
slower than fp32); it is served when asked for, and chosen by ``auto`` only once the gate passed it too.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import openvino

from camserve.models.evaluation.gate import gate_record_path, int8_files, load_gate_record
from camserve.models.graphs.export import INPUT_NAME, OUTPUT_NAMES, cached_onnx_export
from camserve.models.inference.predictor import Precision, Prediction, calibrated_probabilities, check_batch
from camserve.models.metadata import ModelMetadata, load_metadata
from camserve.models.runtimes import AUTO, RuntimeRequest
from camserve.models.selection.hardware import usable_cores
from camserve.models.selection.lanes import Timings, choose_lanes, measure_lanes

__all__ = ["PRECISIONS", "OpenVinoPredictor", "compile_for_cpu", "gated_int8", "load", "native_bf16"]

PRECISIONS: tuple[Precision, ...] = ("fp32", "bf16", "int8")
# int8 layers run in int8 whatever the hint; the rest stay fp32 on every CPU, as the gate measured them.
_INFERENCE_PRECISION = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}


def native_bf16(core: openvino.Core) -> bool:
    """Whether OpenVINO runs bf16 natively on this CPU (avx512_bf16 or AMX), as the plugin itself reports."""
    return "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def compile_for_cpu(
    core: openvino.Core, graph: Path | openvino.Model, precision: Precision, threads: int, streams: int = 1
) -> openvino.CompiledModel:
    """The graph (a file, or one in memory) compiled as every camserve runtime runs: one request at a time
    on ``threads`` cores (the batcher makes the batches), in ``precision``; or, with ``streams`` above 1, as
    that many lanes sharing the cores, one request each (``camserve.models.selection.lanes``). Said outright:
    OpenVINO's own default on a CPU with native bf16 is bf16, which would run fp32 and int8 graphs' float
    layers in bf16."""
    config = {
        "INFERENCE_PRECISION_HINT": _INFERENCE_PRECISION[precision],
        "PERFORMANCE_HINT": "LATENCY" if streams == 1 else "THROUGHPUT",
        "NUM_STREAMS": str(streams),
        "INFERENCE_NUM_THREADS": str(threads),
    }
    return core.compile_model(graph if isinstance(graph, openvino.Model) else core.read_model(graph), "CPU", config)


class OpenVinoPredictor:
    """One compiled model and one infer request, and optionally ``lanes`` more requests on a model compiled as
    that many streams, which forward batches of ``full_batch`` (``camserve.models.selection.lanes``; None: the
    caller's full batch); ``predict`` and ``predict_in_lane`` are safe to call from any thread."""

    runtime = "openvino"
    device = "cpu"
    hook_count = 0  # no hooks: the maps are a graph output

    def __init__(
        self,
        compiled: openvino.CompiledModel,
        metadata: ModelMetadata,
        precision: Precision,
        lanes: openvino.CompiledModel | None = None,
        full_batch: int | None = None,
    ) -> None:
        self.metadata = metadata
        self.precision: Precision = precision
        self.full_batch = full_batch
        self._request = compiled.create_infer_request()
        self._outputs = [compiled.output(name) for name in OUTPUT_NAMES]
        self.lanes = 1 if lanes is None else int(lanes.get_property("NUM_STREAMS"))
        self._free_lanes: list[openvino.InferRequest] = (
            [] if lanes is None else [lanes.create_infer_request() for _ in range(self.lanes)]
        )
        self._lane_outputs = self._outputs if lanes is None else [lanes.output(name) for name in OUTPUT_NAMES]
        self._cores = _CoreShare(self.lanes)

    def predict(self, batch: np.ndarray) -> list[Prediction]:
        """One forward on every core, alone: no lane runs meanwhile."""
        check_batch(batch)
        with self._cores.alone():
            return self._infer(self._request, self._outputs, batch)

    def predict_in_lane(self, batch: np.ndarray) -> list[Prediction]:
        """One forward in a free lane, beside the others; ``predict`` itself where there are no lanes."""
        check_batch(batch)
        if not self._free_lanes:
            return self.predict(batch)
        with self._cores.lane():
            request = self._free_lanes.pop()
            try:
                return self._infer(request, self._lane_outputs, batch)
            finally:
                self._free_lanes.append(request)

    def _infer(
        self, request: openvino.InferRequest, outputs: list[openvino.ConstOutput], batch: np.ndarray
    ) -> list[Prediction]:
        results = request.infer({INPUT_NAME: np.ascontiguousarray(batch, dtype=np.float32)})
        log_probs, maps = (np.array(results[output], dtype=np.float32) for output in outputs)
        probabilities = calibrated_probabilities(log_probs, self.metadata.temperature)
        return [Prediction(p, m) for p, m in zip(probabilities, maps, strict=True)]


class _CoreShare:
    """Who runs on the cores: one forward alone on all of them, or up to ``lanes`` lanes side by side, never both
    (an alone forward's threads beside a lane's would ask for more threads than there are cores)."""

    def __init__(self, lanes: int) -> None:
        self._lanes = lanes
        self._changed = threading.Condition()
        self._alone = False
        self._in_lanes = 0

    @contextmanager
    def alone(self) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: not self._alone and not self._in_lanes)
            self._alone = True
        try:
            yield
        finally:
            with self._changed:
                self._alone = False
                self._changed.notify_all()

    @contextmanager
    def lane(self) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: not self._alone and self._in_lanes < self._lanes)
            self._in_lanes += 1
        try:
            yield
        finally:
            with self._changed:
                self._in_lanes -= 1
                self._changed.notify_all()


def load(request: RuntimeRequest) -> OpenVinoPredictor:
    if request.device not in (AUTO, "cpu") or request.precision == "fp16":
        raise RuntimeError(
            f"backend 'openvino' runs fp32, bf16 or int8 on the CPU, not {request.precision} on {request.device}"
        )
    core = openvino.Core()
    precision: Precision = "fp32" if request.precision == "auto" else request.precision
    if precision == "bf16" and not native_bf16(core):
        raise RuntimeError("backend 'openvino': this CPU has no native bf16 (no avx512_bf16 or AMX); use fp32")
    metadata = load_metadata(request.weights_path)  # first: a missing or bad checkpoint fails in its words
    model_path = gated_int8(request.weights_path) if precision == "int8" else None
    model_path = model_path or cached_onnx_export(request.weights_path, request.cache_dir)
    cores = usable_cores()
    one_forward = compile_for_cpu(core, model_path, precision, cores)

    def with_lanes(count: int, full_batch: int) -> OpenVinoPredictor:
        lanes = compile_for_cpu(core, model_path, precision, cores, streams=count) if count > 1 else None
        return OpenVinoPredictor(one_forward, metadata, precision, lanes, full_batch)

    def measure() -> Timings:
        return measure_lanes(with_lanes(cores, request.batch_size), request.batch_size)

    choice = choose_lanes(request, "openvino", precision, cores, measure)
    return with_lanes(choice.lanes, choice.full_batch)


def gated_int8(weights_path: Path) -> Path:
    """The int8 graph beside the weights, if the gate record passed exactly it; else why not, as an error."""
    files = int8_files(weights_path)
    record = load_gate_record(weights_path)
    if not files.xml.exists() or record is None:
        raise RuntimeError(f"no gated int8 graph for {weights_path}: run camserve quantize (weights/README.md)")
    if record.artifacts.get("openvino:int8") != files.sha256():
        raise RuntimeError(f"{files.xml} is not the int8 graph the gate measured: run camserve quantize again")
    if not record.passed("openvino", "int8"):
        raise RuntimeError(
            f"the int8 graph for {weights_path} failed the accuracy gate ({gate_record_path(weights_path)})"
        )
    return files.xml
