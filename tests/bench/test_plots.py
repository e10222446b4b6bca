"""The concurrency plot is written where asked, folders and all, as a PNG."""

from pathlib import Path

from PIL import Image

from bench.lib.plots import concurrency_plot


def test_the_plot_is_a_png_at_the_path(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "load.png"

    with concurrency_plot(path, "a run", [1, 4, 16]) as (throughput, latency):
        throughput.plot([1, 4, 16], [10.0, 30.0, 35.0], "o-", label="camserve")
        latency.plot([1, 4, 16], [50.0, 120.0, 400.0], "o-", label="p50")

    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (1320, 504)  # 11 x 4.2 inches at 120 dpi
