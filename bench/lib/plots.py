"""Throughput and latency against concurrency, side by side: how the load benchmarks draw a run.

matplotlib draws to files only (the Agg backend): the benchmark machines have no display.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
from matplotlib import pyplot  # after use(): the backend is chosen before pyplot loads
from matplotlib.axes import Axes


@contextmanager
def concurrency_plot(
    path: Path, title: str, concurrency: list[int], legend_size: str = "medium"
) -> Iterator[tuple[Axes, Axes]]:
    """Yield the throughput axes (left) and the latency axes (right, log scale) to draw on; then label both
    with the concurrency levels (log 2) and write the PNG to ``path``."""
    figure, (throughput, latency) = pyplot.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    yield throughput, latency
    throughput.set(xlabel="concurrent requests", ylabel="photos / s", title="Throughput", ylim=(0, None))
    latency.set(xlabel="concurrent requests", ylabel="ms", title="Latency", yscale="log")
    for axes in (throughput, latency):
        axes.set_xscale("log", base=2)
        axes.set_xticks(concurrency, [str(c) for c in concurrency])
        axes.grid(alpha=0.3)
        axes.legend(fontsize=legend_size)
    figure.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    pyplot.close(figure)
