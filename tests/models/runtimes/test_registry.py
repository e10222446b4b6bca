"""The runtime registry: runtimes found by file name, imported only when chosen (``auto``: test_selection.py)."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from camserve.models.metadata import SHIPPED_WEIGHTS, CheckpointError
from camserve.models.runtimes import RuntimeRequest, load_predictor, runtime_names


def test_every_runtime_module_is_listed() -> None:
    assert {"torch", "onnxruntime", "openvino"} <= set(runtime_names())


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


@pytest.mark.parametrize("runtime", [*sorted(RUNTIME_LIBRARIES), "auto"])
def test_a_process_serving_one_runtime_imports_nothing_of_the_others(runtime: str, shipped_onnx_cache: Path) -> None:
    """With the ONNX export made (as the first start makes it), a later start serving it loads no torch; and
    ``auto`` times every runtime in subprocesses, so the serving process loads only the one it chose."""
    result = subprocess.run(
        [sys.executable, "-c", SERVE_AND_LIST_MODULES, runtime, str(shipped_onnx_cache)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    imported = set(result.stdout.split())
    assert len(RUNTIME_LIBRARIES & imported) == 1
    assert runtime in imported or runtime == "auto"
