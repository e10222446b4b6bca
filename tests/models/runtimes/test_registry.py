"""The runtime registry: runtimes found by file name, chosen by setting, imported only when chosen."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from camserve.models import runtimes
from camserve.models.export import cached_onnx_export
from camserve.models.metadata import SHIPPED_WEIGHTS, CheckpointError
from camserve.models.runtimes import RuntimeRequest, choose_runtime, load_predictor, runtime_names


def test_every_runtime_module_is_listed() -> None:
    assert {"torch", "onnxruntime", "openvino"} <= set(runtime_names())


@pytest.mark.parametrize(
    ("device", "precision", "amx", "runtime"),
    [
        ("cpu", "fp32", False, "onnxruntime"),
        ("cpu", "auto", False, "onnxruntime"),
        ("cpu", "auto", True, "torch"),
        ("cpu", "bf16", False, "torch"),
        ("cuda", "auto", False, "torch"),
        ("cuda", "fp32", False, "torch"),
    ],
)
def test_auto_is_onnxruntime_for_cpu_fp32_only(
    monkeypatch: pytest.MonkeyPatch, device: str, precision: str, amx: bool, runtime: str
) -> None:
    monkeypatch.setattr(runtimes, "cpu_has_amx", lambda: amx)
    assert choose_runtime("auto", device, precision) == runtime


def test_auto_device_follows_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtimes, "cpu_has_amx", lambda: False)
    monkeypatch.setattr(runtimes, "cuda_available", lambda: True)
    assert choose_runtime("auto", "auto", "auto") == "torch"
    monkeypatch.setattr(runtimes, "cuda_available", lambda: False)
    assert choose_runtime("auto", "auto", "auto") == "onnxruntime"


def test_explicit_runtime_wins() -> None:
    assert choose_runtime("torch", "cpu", "fp32") == "torch"


def test_unknown_runtime_is_refused_with_the_known_ones() -> None:
    with pytest.raises(RuntimeError, match=r"unknown runtime .tensorrt.*onnxruntime, openvino, torch"):
        choose_runtime("tensorrt", "cpu", "fp32")


@pytest.mark.parametrize(("device", "precision"), [("cpu", "bf16"), ("cuda", "fp32")])
def test_onnxruntime_outside_cpu_fp32_is_refused(device: str, precision: str) -> None:
    request = RuntimeRequest(SHIPPED_WEIGHTS, device=device, precision=precision)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="fp32 on the CPU only"):
        load_predictor("onnxruntime", request)


@pytest.mark.parametrize("runtime", ["torch", "onnxruntime"])
def test_a_missing_checkpoint_fails_in_its_words_on_every_runtime(tmp_path: Path, runtime: str) -> None:
    request = RuntimeRequest(tmp_path / "gone.safetensors", device="cpu", precision="fp32", cache_dir=tmp_path)
    with pytest.raises(CheckpointError, match=r"gone\.safetensors: weights file not found"):
        load_predictor(runtime, request)


SERVE_AND_LIST_MODULES = textwrap.dedent(
    """
    import sys
    import numpy as np
    from camserve.models.metadata import SHIPPED_WEIGHTS
    from camserve.models.runtimes import RuntimeRequest, load_predictor
    from camserve.service.app import create_app

    request = RuntimeRequest(SHIPPED_WEIGHTS, device="cpu", precision="fp32", cache_dir=sys.argv[2])
    predictor = load_predictor(sys.argv[1], request)
    create_app(predictor=predictor)
    size = predictor.metadata.input_size
    predictor.predict(np.zeros((1, 3, size, size), dtype=np.float32))
    print(" ".join(sorted(name.partition(".")[0] for name in sys.modules)))
    """
)


RUNTIME_LIBRARIES = {"torch", "onnxruntime", "openvino"}


@pytest.mark.parametrize("runtime", sorted(RUNTIME_LIBRARIES))
def test_a_process_serving_one_runtime_imports_nothing_of_the_others(runtime: str, tmp_path: Path) -> None:
    """With the ONNX export made (as the first start makes it), a later start serving it loads no torch."""
    cached_onnx_export(SHIPPED_WEIGHTS, tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", SERVE_AND_LIST_MODULES, runtime, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    imported = set(result.stdout.split())
    assert runtime in imported
    assert not (RUNTIME_LIBRARIES - {runtime}) & imported
