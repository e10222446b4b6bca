"""Argument types shared by the sub-commands: each refuses a bad value with a usage error naming the option."""

import argparse
from collections.abc import Callable

from camserve.models.evaluation.localization_kinds import KINDS


def sizes(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated sizes like 64,96,128, got {text!r}") from error
    if not values or min(values) < 32:
        raise argparse.ArgumentTypeError("each size must be at least 32 pixels")
    return values


def at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from error
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from error
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {value}")
    return value


def proportion(text: str) -> float:
    """A number from 0 (off) up to, not including, 1: label smoothing, a decay, a drop probability."""
    try:
        value = float(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from error
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1), got {value}")
    return value


def map_kinds(text: str) -> list[str]:
    """Comma-separated heatmap kinds of the localization benchmark (camserve.models.evaluation.localization_kinds)."""
    kinds = [kind.strip() for kind in text.split(",") if kind.strip()]
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(f"unknown map kinds {unknown or text!r}; choose from {','.join(KINDS)}")
    return kinds
