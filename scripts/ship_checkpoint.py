"""Copy a trained checkpoint into weights/ under a release version.

    python scripts/ship_checkpoint.py RUN/final.safetensors weights/NAME.safetensors --version 1.0.0

The weights are copied byte for byte; the metadata is the run's own, with only ``version`` changed, so the
shipped file is traceable to its run (the training record stays in the metadata's ``extra``).
"""

import argparse
import shutil
from dataclasses import replace
from pathlib import Path

from camserve.models.checkpoint import load_checkpoint
from camserve.models.files import atomic_write
from camserve.models.metadata import metadata_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("destination", type=Path)
    parser.add_argument("--version", required=True)
    args = parser.parse_args()
    _, metadata = load_checkpoint(args.source)  # refuses a checkpoint that does not load
    shutil.copyfile(args.source, args.destination)
    with atomic_write(metadata_path(args.destination)) as staged:
        staged.write_text(replace(metadata, version=args.version).to_json())
    print(f"shipped {metadata.name} {args.version} as {args.destination}")


if __name__ == "__main__":
    main()
