"""The bare forward of checkpoints' OpenVINO graphs, measured in turns: what a candidate's int8 graph costs
against the shipped model's, each at its own input size, and against bf16 and fp32.

A checkpoint's int8 graph is the one ``camserve quantize`` wrote beside it, timed whether or not the gate
passed it; fp32 and bf16 run its ONNX export. Every graph is compiled as serving compiles it (one request,
all usable cores) and timed on a zero batch at the checkpoint's size. Each round times every graph once per
batch size, in the order A B C, then C B A, so a drift of the shared cores favours none; the table gives
per-graph medians over the rounds and each graph's per-round ratio to the first graph, median and range.
The release rule reads the candidate's int8 ratio at batch 8.
"""

import statistics
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import openvino

from camserve.models.evaluation.gate import int8_files
from camserve.models.evaluation.measurement import timed, turns
from camserve.models.graphs.export import INPUT_NAME, cached_onnx_export
from camserve.models.inference.predictor import Precision
from camserve.models.metadata import load_metadata
from camserve.models.runtimes.openvino import PRECISIONS, compile_for_cpu
from camserve.models.selection.hardware import usable_cores

__all__ = ["Graph", "RoundTimes", "parse_graph", "summarise", "time_graphs"]

# Per batch size, per graph name: the median milliseconds of each round.
RoundTimes = dict[int, dict[str, list[float]]]


@dataclass(frozen=True)
class Graph:
    name: str
    path: Path
    precision: Precision
    size: int


def parse_graph(text: str, onnx_cache_dir: Path) -> Graph:
    """NAME=CHECKPOINT:PRECISION, e.g. ``shipped=weights/camserve-resnet34.safetensors:int8``: the int8 graph
    beside the checkpoint, or its ONNX export (made once, cached) for fp32 and bf16."""
    name, _, rest = text.partition("=")
    weights, _, named = rest.rpartition(":")
    precision = next((known for known in PRECISIONS if known == named), None)
    if not name or not weights or precision is None:
        raise ValueError(f"expected NAME=CHECKPOINT:PRECISION ({'|'.join(PRECISIONS)}), got {text!r}")
    weights_path = Path(weights)
    size = load_metadata(weights_path).input_size
    if precision == "int8":
        return Graph(name, int8_files(weights_path).xml, precision, size)
    return Graph(name, cached_onnx_export(weights_path, onnx_cache_dir), precision, size)


def time_graphs(graphs: list[Graph], batches: list[int], rounds: int, reps: int) -> RoundTimes:
    """Each round: every graph once per batch size (median of ``reps`` forwards), graphs in turns."""
    core = openvino.Core()
    requests = {
        g.name: compile_for_cpu(core, g.path, g.precision, usable_cores()).create_infer_request() for g in graphs
    }
    inputs = {
        (g.name, batch): np.zeros((batch, 3, g.size, g.size), dtype=np.float32) for g in graphs for batch in batches
    }
    for (name, _), batch_input in inputs.items():  # the first forward at each shape selects kernels
        requests[name].infer({INPUT_NAME: batch_input})
    times: RoundTimes = {batch: {g.name: [] for g in graphs} for batch in batches}
    for _, name in turns(rounds, tuple(requests)):
        for batch in batches:
            median_ms, _ = timed(reps, partial(requests[name].infer, {INPUT_NAME: inputs[name, batch]}))
            times[batch][name].append(median_ms)
    return times


def summarise(graphs: list[Graph], times: RoundTimes) -> dict[str, Any]:
    """Per graph: where it came from, and per batch size its median, per photo, and its ratio to the first
    graph taken round by round (a drift that slows both in one round cancels out of that round's ratio)."""
    first = graphs[0].name
    table: dict[str, Any] = {}
    for graph in graphs:
        entry: dict[str, Any] = {"path": str(graph.path), "precision": graph.precision, "size": graph.size}
        for batch, by_graph in times.items():
            ratios = [t / f for t, f in zip(by_graph[graph.name], by_graph[first], strict=True)]
            median_ms = statistics.median(by_graph[graph.name])
            entry[str(batch)] = {
                "median_ms": median_ms,
                "ms_per_photo": median_ms / batch,
                "ratio_to_first": statistics.median(ratios),
                "ratio_range": [min(ratios), max(ratios)],
                "rounds_ms": by_graph[graph.name],
            }
        table[graph.name] = entry
    return table
