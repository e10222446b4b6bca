"""The bare forward of checkpoints' OpenVINO graphs, measured in turns: what a candidate's int8 graph (with
whatever ``camserve quantize``'s accuracy control returned to float) costs against the shipped model's, each
at its own input size, and against bf16 and fp32.

A checkpoint's int8 graph is the one ``camserve quantize`` wrote beside it, timed whether or not the gate
passed it; fp32 and bf16 run its ONNX export. Every graph is compiled as serving compiles it
(``compile_for_cpu``: one request, all usable cores) and timed on a zero batch at the checkpoint's size.
Each round times every graph once per batch size, in the order A B C, then C B A, so a drift of the shared
cores favours none; the table gives per-graph medians over the rounds and each graph's per-round ratio to
the first graph, median and range.

Run from the repository root, in the project's venv::

    python bench/graphs.py --graph shipped=weights/camserve-resnet34.safetensors:int8 \\
        --graph candidate=runs/candidate-2.1.0/camserve-resnet34.safetensors:int8 \\
        --graph candidate-bf16=runs/candidate-2.1.0/camserve-resnet34.safetensors:bf16

Writes bench/results/graphs.json.
"""

import argparse
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import openvino
from common import RESULTS_DIR, environment, load_average_1m, timed, write_results
from compare import turns

from camserve.models.evaluation.gate import int8_files
from camserve.models.graphs.export import INPUT_NAME, cached_onnx_export
from camserve.models.inference.predictor import Precision
from camserve.models.metadata import load_metadata
from camserve.models.runtimes.openvino import PRECISIONS, compile_for_cpu
from camserve.models.selection.hardware import usable_cores
from camserve.service.settings import Settings


@dataclass(frozen=True)
class Graph:
    name: str
    path: Path
    precision: Precision
    size: int


def parse_graph(text: str) -> Graph:
    """NAME=CHECKPOINT:PRECISION, e.g. ``shipped=weights/camserve-resnet34.safetensors:int8``."""
    name, _, rest = text.partition("=")
    weights, _, precision = rest.rpartition(":")
    if not name or not weights or precision not in PRECISIONS:
        raise argparse.ArgumentTypeError(f"expected NAME=CHECKPOINT:PRECISION ({'|'.join(PRECISIONS)}), got {text!r}")
    weights_path = Path(weights)
    size = load_metadata(weights_path).input_size
    if precision == "int8":
        return Graph(name, int8_files(weights_path).xml, precision, size)
    return Graph(name, cached_onnx_export(weights_path, Settings().onnx_cache_dir), precision, size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graph", type=parse_graph, action="append", required=True, help="NAME=CHECKPOINT:PRECISION")
    parser.add_argument("--batches", default="1,8", help="batch sizes (1,8)")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--reps", type=int, default=10, help="forwards per graph and batch in a round (median)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "graphs.json")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]

    load_before = load_average_1m()
    core = openvino.Core()
    graphs: dict[str, Graph] = {graph.name: graph for graph in args.graph}
    requests = {
        g.name: compile_for_cpu(core, g.path, g.precision, usable_cores()).create_infer_request() for g in args.graph
    }
    inputs = {
        (g.name, batch): np.zeros((batch, 3, g.size, g.size), dtype=np.float32) for g in args.graph for batch in batches
    }
    for (name, _), batch_input in inputs.items():  # first forward at each shape selects kernels
        requests[name].infer({INPUT_NAME: batch_input})

    rounds: dict[int, dict[str, list[float]]] = {batch: {name: [] for name in requests} for batch in batches}
    names = tuple(requests)
    for _, name in turns(args.rounds, names):
        for batch in batches:
            request, batch_input = requests[name], inputs[name, batch]
            median_ms, _ = timed(args.reps, lambda r=request, x=batch_input: r.infer({INPUT_NAME: x}))
            rounds[batch][name].append(median_ms)

    first = names[0]
    table: dict[str, Any] = {}
    width = max(len(name) for name in names) + 2
    print(f"{'graph':<{width}}{'size':>5}{'batch':>6}{'ms':>9}{'ms/photo':>10}  ratio to {first} (median, min-max)")
    for batch in batches:
        for name in names:
            ratios = [t / f for t, f in zip(rounds[batch][name], rounds[batch][first], strict=True)]
            median_ms = statistics.median(rounds[batch][name])
            graph = graphs[name]
            entry = table.setdefault(name, {"path": str(graph.path), "precision": graph.precision, "size": graph.size})
            entry[str(batch)] = {
                "median_ms": median_ms,
                "ms_per_photo": median_ms / batch,
                "ratio_to_first": statistics.median(ratios),
                "ratio_range": [min(ratios), max(ratios)],
                "rounds_ms": rounds[batch][name],
            }
            print(
                f"{name:<{width}}{graph.size:>5}{batch:>6}{median_ms:>9.2f}{median_ms / batch:>10.2f}  "
                f"{statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f})"
            )
    write_results(
        args.output,
        {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "rounds": args.rounds,
            "reps": args.reps,
            "graphs": table,
            "environment": environment(load_before, load_average_1m()),
        },
    )
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
