"""Which runtime and precision serve: as set, or, for ``CAMSERVE_BACKEND=auto`` on the CPU, the fastest measured.

CPUs differ (AMX, avx512_bf16 with VNNI, AVX2 only), and which runtime is fastest on one says little about
another, so ``auto`` times every eligible candidate on this machine at start-up: each runtime's fp32, and
each reduced precision it offers (its module's ``PRECISIONS``) that the gate record beside the weights
passed (``camserve.models.evaluation.gate``). A candidate the CPU cannot run (bf16 without native bf16), or whose
library or graph is missing (``make serve`` installs no torch, so no export but the shipped ones), is skipped
with its reason. Each runtime is timed in its own subprocess, so the serving process imports only the
runtime it serves, and no runtime's thread pool competes with another's clock. The answer is cached per
machine, weights, gate record and library versions: later starts read it in milliseconds.

On CUDA, PyTorch serves (the one CUDA runtime). An explicit ``CAMSERVE_BACKEND`` is obeyed without timing.
"""

import hashlib
import importlib
import json
import logging
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import numpy as np

from camserve.models.evaluation.gate import gate_record_path, load_gate_record
from camserve.models.files import atomic_write, file_sha256
from camserve.models.inference.predictor import Precision, PrecisionChoice, Predictor
from camserve.models.metadata import load_metadata
from camserve.models.runtimes import AUTO, RuntimeRequest, check_runtime_name, runtime_names
from camserve.models.selection.hardware import cpu_flags, cpu_model_name, cuda_available, precision_flags, usable_cores

__all__ = ["Measurement", "RuntimeChoice", "choice_cache_path", "choose_runtime", "measure_runtime"]

log = logging.getLogger("camserve")

ROUNDS = 5  # turns through the candidates, alternating their order, so a drift favours none
SINGLES_PER_ROUND = 3
MEASURE_TIMEOUT_S = 180.0
LIBRARIES = ("camserve", "torch", "onnxruntime", "openvino", "numpy")
Source = Literal["setting", "cuda", "measured", "cached", "given"]  # given: a predictor loaded by the caller


@dataclass(frozen=True)
class Measurement:
    """One candidate's typical forward times on this machine (``_typical_ms``), or why it was not a candidate."""

    runtime: str
    precision: str
    single_ms: float | None = None
    batch_ms: float | None = None
    batch_size: int = 0
    skipped: str | None = None

    @property
    def name(self) -> str:
        return f"{self.runtime}:{self.precision}"

    @property
    def batch_ms_per_photo(self) -> float | None:
        return None if self.batch_ms is None else self.batch_ms / self.batch_size

    def describe(self) -> str:
        """Its figures, or why it was skipped, for the log."""
        if self.skipped:
            return f"{self.name} skipped ({self.skipped})"
        per_photo = f"{self.batch_ms_per_photo:.1f} ms/photo at batch {self.batch_size}"
        return f"{self.name} {self.single_ms:.1f} ms single, {per_photo}"


@dataclass(frozen=True)
class RuntimeChoice:
    """The runtime and precision to serve with, where that came from, and the figures behind it."""

    runtime: str
    precision: PrecisionChoice
    source: Source
    measurements: tuple[Measurement, ...] = ()
    fastest_single: str | None = None
    fastest_batch: str | None = None
    machine: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RuntimeChoice":
        measurements = tuple(Measurement(**m) for m in data["measurements"])
        return cls(**{**data, "measurements": measurements})

    def describe(self) -> str:
        """One line for the log: the choice, and each candidate's figures."""
        figures = "; ".join(m.describe() for m in self.measurements)
        return f"{self.runtime}:{self.precision} ({self.source})" + (f"; {figures}" if figures else "")


def choose_runtime(choice: str, request: RuntimeRequest) -> RuntimeChoice:
    """The runtime and precision for a ``CAMSERVE_BACKEND`` value and the request's precision."""
    check_runtime_name(choice)
    on_cuda = request.device == "cuda" or (request.device == AUTO and cuda_available())
    if choice != AUTO:
        return RuntimeChoice(choice, request.precision, "setting")
    if on_cuda:
        return RuntimeChoice("torch", request.precision, "cuda")
    return _measured_choice(request)


def _measured_choice(request: RuntimeRequest) -> RuntimeChoice:
    load_metadata(request.weights_path)  # first: a missing or bad checkpoint fails in its words, not in a timing
    cache_path = choice_cache_path(request)
    try:
        return replace(RuntimeChoice.from_dict(json.loads(cache_path.read_text())), source="cached")
    except (OSError, ValueError, KeyError, TypeError):
        pass
    started = time.perf_counter()
    measurements = _measure_each_runtime(request)
    timed = [m for m in measurements if m.skipped is None and (request.precision in (AUTO, m.precision))]
    if not timed:
        reasons = "; ".join(f"{m.name}: {m.skipped}" for m in measurements)
        raise RuntimeError(f"no runtime could run precision {request.precision} on this machine: {reasons}")
    fastest_single = min(timed, key=lambda m: m.single_ms or float("inf"))
    fastest_batch = min(timed, key=lambda m: m.batch_ms_per_photo or float("inf"))
    # Under load every forward is a full batch, so the batch figure decides; both are reported.
    chosen = RuntimeChoice(
        fastest_batch.runtime,
        fastest_batch.precision,  # type: ignore[arg-type]  # a precision a runtime offered
        "measured",
        tuple(measurements),
        fastest_single.name,
        fastest_batch.name,
        {**_machine(), "measured_in_s": round(time.perf_counter() - started, 1)},
    )
    with atomic_write(cache_path) as staged:
        staged.write_text(json.dumps(chosen.to_dict(), indent=2) + "\n")
    log.info(
        "camserve: chose %s, the fastest per photo at batch %d (timed in %.0f s); cached in %s, so later starts "
        "on this machine skip the timing",
        fastest_batch.name,
        request.batch_size,
        chosen.machine["measured_in_s"],
        cache_path,
    )
    return chosen


def _measure_each_runtime(request: RuntimeRequest) -> list[Measurement]:
    """Every runtime's candidates, one runtime at a time, said as it goes: the first start is silent otherwise
    for as long as the timing takes (tens of seconds on a small CPU)."""
    names = runtime_names()
    log.info(
        "camserve: CAMSERVE_BACKEND=auto: timing %d runtimes for %s on this CPU to serve the fastest (once; the "
        "answer is cached for later starts)",
        len(names),
        request.weights_path.name,
    )
    measurements: list[Measurement] = []
    for number, name in enumerate(names, start=1):
        log.info("camserve: timing runtime %d of %d: %s", number, len(names), name)
        measured = _measure_in_subprocess(name, request)
        log.info("camserve: %s", "; ".join(m.describe() for m in measured))
        measurements += measured
    return measurements


def _machine() -> dict[str, Any]:
    return {"cpu": cpu_model_name(), "cores": usable_cores(), "cpu_flags": precision_flags()}


def _library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for library in LIBRARIES:
        try:
            versions[library] = version(library)
        except PackageNotFoundError:
            versions[library] = None
    return versions


def choice_cache_path(request: RuntimeRequest, **more: str) -> Path:
    """Where a choice measured for ``request`` on this machine is kept: the runtime's, or with ``more`` another
    choice made for it (``camserve.models.selection.lanes``). Keyed by everything that can change the answer: the
    machine (model, every flag, cores), the weights, the gate record (which reduced precisions are eligible), the
    libraries, the batch size asked for, and ``more``."""
    record = gate_record_path(request.weights_path)
    key: dict[str, Any] = {
        "machine": [platform.machine(), cpu_model_name(), sorted(cpu_flags()), usable_cores()],
        "weights": file_sha256(request.weights_path),
        "gate": file_sha256(record) if record.exists() else None,
        "libraries": _library_versions(),
        "precision": request.precision,
        "batch_size": request.batch_size,
        **more,
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return Path(request.choice_cache_dir) / f"{digest}.json"


def _measure_in_subprocess(name: str, request: RuntimeRequest) -> list[Measurement]:
    arguments = json.dumps(
        {
            "runtime": name,
            "weights": str(request.weights_path),
            "cache_dir": str(request.cache_dir),
            "precision": request.precision,
            "batch_size": request.batch_size,
        }
    )
    command = [sys.executable, "-m", __name__, arguments]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=MEASURE_TIMEOUT_S, check=False)
        lines = done.stdout.strip().splitlines()
        if done.returncode == 0 and lines:
            return [Measurement(**m) for m in json.loads(lines[-1])]
        reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    except subprocess.TimeoutExpired:
        reason = f"timing took over {MEASURE_TIMEOUT_S:.0f} s"
    log.warning("camserve: could not time runtime %s: %s", name, reason)
    return [Measurement(name, "fp32", skipped=reason)]


def measure_runtime(name: str, request: RuntimeRequest) -> list[Measurement]:
    """One runtime's candidates, loaded in this process and timed in alternating turns: the precision asked
    for, or with ``auto`` fp32 and each reduced precision the gate passed."""
    try:
        module = importlib.import_module(f"camserve.models.runtimes.{name}")
    except ModuleNotFoundError as error:  # its library: make serve installs no torch
        return [Measurement(name, "fp32", skipped=f"{error.name} is not installed")]
    offered: tuple[Precision, ...] = module.PRECISIONS
    record = load_gate_record(request.weights_path)
    measurements: list[Measurement] = []
    loaded: list[Predictor] = []
    asked = request.precision
    if asked != "auto" and asked not in offered:
        return [Measurement(name, asked, skipped=f"offers {', '.join(offered)} only")]
    candidates: tuple[Precision, ...] = offered if asked == "auto" else (asked,)
    for precision in candidates:
        gated = precision == "fp32" or asked != AUTO or (record and record.passed(name, precision))
        if not gated:
            measurements.append(Measurement(name, precision, skipped="no accuracy-gate pass recorded for it"))
            continue
        try:
            loaded.append(module.load(replace(request, device="cpu", precision=precision)))
        except RuntimeError as error:
            measurements.append(Measurement(name, precision, skipped=str(error)))
    if not loaded:
        return measurements
    size = loaded[0].metadata.input_size
    batch_size = request.batch_size
    inputs = np.random.default_rng(0).standard_normal((batch_size, 3, size, size), dtype=np.float32)
    times: dict[int, tuple[list[float], list[float]]] = {id(p): ([], []) for p in loaded}
    for predictor in loaded:  # warm up: kernel selection and first-touch allocations
        predictor.predict(inputs[:1])
        predictor.predict(inputs)
    for turn in range(ROUNDS):
        for predictor in loaded if turn % 2 == 0 else loaded[::-1]:
            singles, batches = times[id(predictor)]
            for _ in range(SINGLES_PER_ROUND):
                singles.append(_timed_ms(predictor, inputs[:1]))
            batches.append(_timed_ms(predictor, inputs))
    for predictor in loaded:
        singles, batches = times[id(predictor)]
        measurements.append(
            Measurement(
                name,
                predictor.precision,
                _typical_ms(singles),
                _typical_ms(batches),
                batch_size,
            )
        )
    return measurements


def _typical_ms(samples: list[float]) -> float:
    """The lower quartile: a neighbour's burst on shared cores only ever adds time, so the quick end of the
    samples is the candidate's own speed, and a quartile is steadier than the single quickest."""
    return round(float(np.percentile(samples, 25)), 2)


def _timed_ms(predictor: Predictor, batch: np.ndarray) -> float:
    started = time.perf_counter()
    predictor.predict(batch)
    return (time.perf_counter() - started) * 1000.0


def _main() -> None:
    """``python -m camserve.models.selection.runtime '{"runtime": ..., "weights": ..., ...}'``: one JSON line of
    measurements on stdout (the parent reads the last line)."""
    arguments = json.loads(sys.argv[1])
    request = RuntimeRequest(
        Path(arguments["weights"]),
        precision=arguments["precision"],
        cache_dir=Path(arguments["cache_dir"]),
        batch_size=int(arguments["batch_size"]),
    )
    measurements = measure_runtime(arguments["runtime"], request)
    print(json.dumps([asdict(m) for m in measurements]))


if __name__ == "__main__":
    _main()
