"""``CAMSERVE_BACKEND=auto``: candidates timed on this machine in subprocesses, the fastest served, cached."""

import logging
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from camserve.models.evaluation.gate import GateRecord, gate_record_path
from camserve.models.files import file_sha256
from camserve.models.runtimes import RuntimeRequest, load_predictor
from camserve.models.selection import runtime as selection
from camserve.models.selection.runtime import Measurement, RuntimeChoice, choose_runtime, measure_runtime


@pytest.fixture
def request_for(tiny_checkpoint: Path, tiny_onnx_cache: Path, tmp_path: Path) -> RuntimeRequest:
    """The tiny checkpoint with its export, and a timing cache of its own, so every test starts untimed."""
    return RuntimeRequest(
        tiny_checkpoint, device="cpu", cache_dir=tiny_onnx_cache, batch_size=4, choice_cache_dir=tmp_path / "choice"
    )


def no_measuring(*_: object) -> list[Measurement]:
    raise AssertionError("nothing should be timed here")


def test_a_named_runtime_is_obeyed_without_timing(request_for: RuntimeRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selection, "_measure_in_subprocess", no_measuring)
    chosen = choose_runtime("onnxruntime", request_for)
    assert (chosen.runtime, chosen.precision, chosen.source) == ("onnxruntime", "auto", "setting")
    assert chosen.measurements == ()


def test_cuda_is_served_by_torch(request_for: RuntimeRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selection, "_measure_in_subprocess", no_measuring)
    monkeypatch.setattr(selection, "cuda_available", lambda: True)
    chosen = choose_runtime("auto", replace(request_for, device="auto"))
    assert (chosen.runtime, chosen.source) == ("torch", "cuda")


def test_unknown_runtime_is_refused_with_the_known_ones(request_for: RuntimeRequest) -> None:
    with pytest.raises(RuntimeError, match=r"unknown runtime .tensorrt.*onnxruntime, openvino, torch"):
        choose_runtime("tensorrt", request_for)


def test_auto_times_every_runtime_serves_the_fastest_and_caches_it(
    request_for: RuntimeRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = choose_runtime("auto", request_for)
    assert chosen.source == "measured"
    timed = {m.name: m for m in chosen.measurements if m.skipped is None}
    assert {"onnxruntime:fp32", "openvino:fp32", "torch:fp32"} <= set(timed)
    fastest = min(timed.values(), key=lambda m: m.batch_ms_per_photo or float("inf"))
    assert (chosen.runtime, chosen.precision) == (fastest.runtime, fastest.precision)
    assert chosen.fastest_batch == fastest.name
    assert all(m.batch_size == 4 and (m.single_ms or 0) > 0 for m in timed.values())
    # No gate record for these weights: no reduced precision is a candidate, and each says why.
    skipped = {m.name: m.skipped for m in chosen.measurements if m.skipped}
    assert skipped["openvino:int8"] == skipped["openvino:bf16"] == "no accuracy-gate pass recorded for it"
    assert chosen.machine["cores"] >= 1

    monkeypatch.setattr(selection, "_measure_in_subprocess", no_measuring)
    again = choose_runtime("auto", request_for)
    assert again.source == "cached"
    assert replace(again, source="measured") == chosen
    assert load_predictor(again, request_for).runtime == chosen.runtime


def test_the_first_timing_says_what_it_does_as_it_goes(
    request_for: RuntimeRequest, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Timing takes tens of seconds on a small CPU: each runtime is announced before it is timed, its figures
    after, then the choice and where it is cached; a later start, reading the cache, times and says nothing."""
    per_photo_ms = {"onnxruntime": 4.0, "openvino": 2.0, "torch": 6.0}

    def measured(name: str, request: RuntimeRequest) -> list[Measurement]:
        return [Measurement(name, "fp32", 1.0, per_photo_ms[name] * request.batch_size, request.batch_size)]

    monkeypatch.setattr(selection, "_measure_in_subprocess", measured)
    with caplog.at_level(logging.INFO, logger="camserve"):
        chosen = choose_runtime("auto", request_for)
    assert (chosen.runtime, chosen.precision) == ("openvino", "fp32")
    assert {record.levelno for record in caplog.records} == {logging.INFO}
    assert [record.getMessage() for record in caplog.records] == [
        f"camserve: CAMSERVE_BACKEND=auto: timing 3 runtimes for {request_for.weights_path.name} on this CPU to "
        "serve the fastest (once; the answer is cached for later starts)",
        "camserve: timing runtime 1 of 3: onnxruntime",
        "camserve: onnxruntime:fp32 1.0 ms single, 4.0 ms/photo at batch 4",
        "camserve: timing runtime 2 of 3: openvino",
        "camserve: openvino:fp32 1.0 ms single, 2.0 ms/photo at batch 4",
        "camserve: timing runtime 3 of 3: torch",
        "camserve: torch:fp32 1.0 ms single, 6.0 ms/photo at batch 4",
        "camserve: chose openvino:fp32, the fastest per photo at batch 4 (timed in 0 s); cached in "
        f"{selection.choice_cache_path(request_for)}, so later starts on this machine skip the timing",
    ]
    caplog.clear()
    monkeypatch.setattr(selection, "_measure_in_subprocess", no_measuring)
    with caplog.at_level(logging.INFO, logger="camserve"):
        assert choose_runtime("auto", request_for).source == "cached"
    assert caplog.records == []


def test_a_new_gate_record_or_batch_size_is_measured_afresh(request_for: RuntimeRequest) -> None:
    before = selection.choice_cache_path(request_for)
    assert selection.choice_cache_path(replace(request_for, batch_size=8)) != before
    GateRecord(file_sha256(request_for.weights_path), {}).write(gate_record_path(request_for.weights_path))
    try:
        assert selection.choice_cache_path(request_for) != before
    finally:
        gate_record_path(request_for.weights_path).unlink()


def test_a_precision_asked_for_is_the_only_one_timed(request_for: RuntimeRequest) -> None:
    """An explicit precision overrides the gate (the operator asked), and a runtime without it says so."""
    (onnx,) = measure_runtime("onnxruntime", replace(request_for, precision="bf16"))
    assert onnx.skipped == "offers fp32 only"
    (openvino,) = measure_runtime("openvino", replace(request_for, precision="fp32"))
    assert (openvino.name, openvino.skipped) == ("openvino:fp32", None)


def test_a_runtime_whose_library_is_not_installed_is_skipped_with_its_reason(
    request_for: RuntimeRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """make serve installs no torch: auto goes on with the runtimes that are there."""
    monkeypatch.delitem(sys.modules, "camserve.models.runtimes.torch", raising=False)
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ModuleNotFoundError, as where it is absent
    (torch_,) = measure_runtime("torch", request_for)
    assert (torch_.name, torch_.skipped) == ("torch:fp32", "torch is not installed")


def test_a_candidate_that_cannot_start_is_skipped_with_its_reason(
    request_for: RuntimeRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(selection.sys, "executable", "/bin/false")
    with pytest.raises(RuntimeError, match=r"no runtime could run precision auto on this machine: .*exit status 1"):
        choose_runtime("auto", replace(request_for, batch_size=2))


def test_the_log_line_names_the_choice_and_each_candidate() -> None:
    choice = RuntimeChoice(
        "openvino",
        "int8",
        "measured",
        (
            Measurement("openvino", "int8", 5.0, 32.0, 8),
            Measurement("openvino", "bf16", skipped="this CPU has no native bf16"),
        ),
    )
    assert choice.describe() == (
        "openvino:int8 (measured); openvino:int8 5.0 ms single, 4.0 ms/photo at batch 8; "
        "openvino:bf16 skipped (this CPU has no native bf16)"
    )
