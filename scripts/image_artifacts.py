"""What the container image's build stage hands to its torch-free CPU stage (Dockerfile).

    python scripts/image_artifacts.py ONNX_DIR REQUIREMENTS_FILE

Exports every shipped checkpoint (the default model and the one served beside it) to ONNX into ONNX_DIR
(exporting needs torch, which the build stage has), and writes camserve's own dependencies without extras, read
from its installed metadata, as a pip requirements file: the CPU image installs exactly those (PyTorch and the
exporter are the ``torch`` extra), so its dependency list is pyproject.toml's and cannot drift from it.
"""

import sys
from importlib.metadata import requires
from pathlib import Path

from camserve.models.graphs.export import cached_onnx_export
from camserve.models.metadata import SHIPPED_CIFAR_WEIGHTS, SHIPPED_WEIGHTS


def serving_requirements() -> list[str]:
    """camserve's unconditional requirements: what ``make serve`` installs too."""
    return [requirement for requirement in requires("camserve") or [] if "extra ==" not in requirement]


def main() -> None:
    onnx_dir, requirements_file = Path(sys.argv[1]), Path(sys.argv[2])
    for weights in (SHIPPED_WEIGHTS, SHIPPED_CIFAR_WEIGHTS):
        print(f"exported {cached_onnx_export(weights, onnx_dir)}")
    requirements_file.write_text("\n".join(serving_requirements()) + "\n")
    print(f"wrote {requirements_file}")


if __name__ == "__main__":
    main()
