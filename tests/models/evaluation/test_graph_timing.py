"""Graph timing: NAME=CHECKPOINT:PRECISION names the graph serving would compile, the summary's ratios are
taken round by round against the first graph, and a real tiny graph is timed in turns."""

from pathlib import Path

import pytest

from camserve.models.evaluation.graph_timing import Graph, parse_graph, summarise, time_graphs


def test_int8_names_the_quantised_graph_beside_the_checkpoint(tiny_checkpoint: Path, tmp_path: Path) -> None:
    graph = parse_graph(f"candidate={tiny_checkpoint}:int8", tmp_path)
    assert graph == Graph("candidate", tiny_checkpoint.with_suffix(".int8.xml"), "int8", 32)


@pytest.mark.parametrize("text", ["no-equals", "=weights.safetensors:int8", "a=weights.safetensors:fp64", "a=:fp32"])
def test_malformed_graphs_are_refused(text: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="NAME=CHECKPOINT:PRECISION"):
        parse_graph(text, tmp_path)


def test_ratios_are_per_round_against_the_first_graph() -> None:
    """Round 2 ran slow for both: the per-round ratio stays 2, where a ratio of medians would not show it."""
    graphs = [Graph("shipped", Path("s.xml"), "int8", 144), Graph("candidate", Path("c.xml"), "int8", 176)]
    table = summarise(graphs, {8: {"shipped": [1.0, 10.0, 1.2], "candidate": [2.0, 20.0, 2.4]}})
    row = table["candidate"]["8"]
    assert row["ratio_to_first"] == pytest.approx(2.0)
    assert row["ratio_range"] == pytest.approx([2.0, 2.0])
    assert (row["median_ms"], row["ms_per_photo"]) == (2.4, 0.3)
    assert table["shipped"]["8"]["ratio_to_first"] == 1.0
    assert (table["candidate"]["size"], table["candidate"]["precision"]) == (176, "int8")


def test_a_tiny_graph_is_timed_every_round_at_every_batch(tiny_checkpoint: Path, tiny_onnx_cache: Path) -> None:
    graphs = [parse_graph(f"{name}={tiny_checkpoint}:fp32", tiny_onnx_cache) for name in ("a", "b")]
    times = time_graphs(graphs, batches=[1, 2], rounds=3, reps=1)
    assert {batch: {name: len(ms) for name, ms in by.items()} for batch, by in times.items()} == {
        1: {"a": 3, "b": 3},
        2: {"a": 3, "b": 3},
    }
    assert all(ms > 0 for by in times.values() for values in by.values() for ms in values)
