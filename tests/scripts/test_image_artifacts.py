"""The CPU image's dependency list: pyproject.toml's without extras, so no PyTorch."""

import re

from scripts.image_artifacts import serving_requirements

# Exporting and the PyTorch runtime need these (the torch extra); ONNX Runtime and OpenVINO serve without them.
TORCH_ONLY = {"torch", "torchvision", "onnx", "onnxscript"}


def test_the_cpu_image_installs_every_serving_dependency_and_no_torch() -> None:
    names = {re.split(r"[<>=!~ ;\[]", requirement, maxsplit=1)[0].lower() for requirement in serving_requirements()}
    assert {"openvino", "onnxruntime", "fastapi", "uvicorn", "numpy", "pillow"} <= names
    assert not names & TORCH_ONLY
    assert not {"nncf", "litserve", "pytest"} & names  # extras stay out
