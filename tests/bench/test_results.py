"""Medians over rounds, ratios and table cells: a figure not measured stays visibly not measured."""

from bench.lib.results import cell, machine_summary, median_of, medians, ratio


def test_medians_skip_rounds_without_the_figure() -> None:
    rounds = [{"p50_ms": 10.0, "errors": 0}, {"p50_ms": None, "errors": 4}, {"p50_ms": 30.0, "errors": 1}]

    assert medians(rounds, ["p50_ms", "errors"]) == {"p50_ms": 20.0, "errors": 1}


def test_a_figure_no_round_has_has_no_median() -> None:
    assert median_of([{"p50_ms": None}, {"p50_ms": None}], "p50_ms") is None


def test_ratio_of_unmeasured_or_zero_is_none() -> None:
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(1.0, 3.0) == 0.333
    assert ratio(None, 2.0) is None
    assert ratio(2.0, None) is None
    assert ratio(2.0, 0.0) is None
    assert ratio(0.0, 2.0) == 0.0


def test_cells_are_right_aligned_and_dash_for_none() -> None:
    assert cell(3.14159, 8) == "     3.1"
    assert cell(3.14159, 8, 3) == "   3.142"
    assert cell(None, 5) == "    -"


def test_the_machine_summary_names_cpus_and_the_load_around_the_run() -> None:
    results = {"machine": {"cpus": 2, "load_average_1m": {"before": 1.5, "after": 7.25}}}

    assert machine_summary(results) == "2 CPUs, load 1.5 -> 7.25"
