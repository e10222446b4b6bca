"""Figures over rounds, as the benchmarks that take turns report them: medians, ratios and table cells."""

import statistics
from collections.abc import Iterable
from typing import Any


def median_of(rounds: list[dict[str, Any]], key: str) -> float | None:
    """The median over rounds, of those that have the figure (a round with no success has no latency)."""
    values = [run[key] for run in rounds if run[key] is not None]
    return round(statistics.median(values), 2) if values else None


def medians(rounds: list[dict[str, Any]], keys: Iterable[str]) -> dict[str, float | None]:
    return {key: median_of(rounds, key) for key in keys}


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator`` to 3 places; None where either was not measured (or the denominator is 0)."""
    return round(numerator / denominator, 3) if numerator is not None and denominator else None


def machine_summary(results: dict[str, Any]) -> str:
    """How many CPUs a run had and how busy they were around it, from its machine facts: a load average well
    above the CPU count means the neighbours were measured as much as camserve."""
    machine = results["machine"]
    load = machine["load_average_1m"]
    return f"{machine['cpus']} CPUs, load {load['before']} -> {load['after']}"


def cell(value: float | None, width: int, digits: int = 1) -> str:
    """A right-aligned table cell; ``-`` for a figure not measured."""
    return f"{value:{width}.{digits}f}" if value is not None else f"{'-':>{width}}"
