"""Copy a trained checkpoint into weights/ under a release version.

    python scripts/ship_checkpoint.py RUN/final.safetensors weights/NAME.safetensors --version 1.0.0 [--onnx]

The weights are copied byte for byte; the metadata is the run's own, with only ``version`` changed, so the
shipped file is traceable to its run (the training record stays in the metadata's ``extra``). ``--onnx`` ships
the checkpoint's ONNX export beside it too, in place of any export of earlier weights: an environment without
PyTorch (``make serve``, the CPU image) serves only exports it finds. Worth it for a small model (the CIFAR-10
one's is 8 MB); the default model serves its shipped int8 graph there instead.
"""

import argparse
import shutil
from dataclasses import replace
from pathlib import Path

from camserve.models.checkpoint import load_checkpoint
from camserve.models.files import atomic_write
from camserve.models.graphs.export import cached_onnx_export
from camserve.models.metadata import metadata_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("destination", type=Path)
    parser.add_argument("--version", required=True)
    parser.add_argument("--onnx", action="store_true", help="ship the ONNX export beside the weights too")
    args = parser.parse_args()
    _, metadata = load_checkpoint(args.source)  # refuses a checkpoint that does not load
    shutil.copyfile(args.source, args.destination)
    with atomic_write(metadata_path(args.destination)) as staged:
        staged.write_text(replace(metadata, version=args.version).to_json())
    print(f"shipped {metadata.name} {args.version} as {args.destination}")
    if args.onnx:
        ship_onnx_export(args.destination)


def ship_onnx_export(weights: Path) -> Path:
    """The checkpoint's ONNX export in its own folder, and no export of other weights under its name there."""
    for stale in weights.parent.glob(f"{weights.stem}-{'?' * 16}-torch*.onnx"):  # any digest
        stale.unlink()
    export = cached_onnx_export(weights, weights.parent)
    print(f"shipped its ONNX export as {export}")
    return export


if __name__ == "__main__":
    main()
