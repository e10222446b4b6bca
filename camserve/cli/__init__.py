"""``camserve``: serve the HTTP API, predict offline, train and evaluate. One module per sub-command."""

import argparse
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from camserve import __version__
from camserve.cli import calibrate, cifar, evaluate, finetune, predict, quantize, release, serve, train
from camserve.models.metadata import CheckpointError
from camserve.service.settings import ModelSettings

__all__ = ["build_parser", "main"]

COMMANDS = (serve, predict, train, finetune, evaluate, quantize, calibrate, cifar, release)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="camserve", description=__doc__)
    parser.add_argument("--version", action="version", version=f"camserve {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = getattr(args, "settings_type", ModelSettings)()
    except ValidationError as error:
        print(f"camserve: error: invalid CAMSERVE_* settings:\n{error}", file=sys.stderr)
        return 2
    try:
        code: int = args.handler(args, settings)
    except (CheckpointError, RuntimeError) as error:
        print(f"camserve: error: {error}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as error:  # make serve installs only what serving needs
        print(
            f"camserve: error: {error.name} is not installed; this environment has what serving needs only: "
            "pip install -e '.[train]' adds PyTorch and the training tools",
            file=sys.stderr,
        )
        return 2
    return code
