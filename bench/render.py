"""What an overlay costs to render, step by step, and what each PNG zlib level buys in bytes.

Times the GET side of the data path (``camserve.service.render.render``) one step at a time, for tests/chelsea.png
(451x300) and a generated 4000x3000 JPEG (a phone photo's size): decode, upsample the class map, colorize,
blend, then ``service.render.encode_png`` at every zlib level 0..9 with the bytes it produced. Rendered
PNGs are cached and sent once per URL, so the level trades one-off CPU per picture against bytes on the
wire and in the render cache; this measures that trade to choose the default ``CAMSERVE_PNG_COMPRESSION``.

Class maps are seeded random 2x7x7 arrays: rendering never looks at the model, only at the map's size.

Run from the repository root, in the project's venv::

    python -m bench.render
    python -m bench.render --reps 9     # default 3; levels 8 and 9 of 12 MP take 20-30 s a call on 2 cores

Prints a table and writes bench/results/render.json.
"""

import argparse
import functools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.lib.paths import CHELSEA, REPOSITORY, RESULTS_DIR
from bench.lib.photos import jpeg_bytes, synthetic_photo
from bench.lib.results import machine_summary
from camserve.models.evaluation.measurement import load_average_1m, machine_facts, timed, write_results
from camserve.models.inference.cam import upsample
from camserve.models.inference.decode import decode_photo
from camserve.service.render import Colormap, Picture, RenderRequest, blend, colorize, encode_png, render, select_cam
from camserve.service.settings import Settings

LARGE_SIZE = (4000, 3000)
LEVELS = range(10)


def measure(name: str, data: bytes, reps: int, max_pixels: int, rng: np.random.Generator) -> dict[str, Any]:
    """Each step of ``render`` for an overlay (weighted CAM, jet, alpha 0.5), fed the previous step's output."""
    class_maps = rng.random((2, 7, 7), dtype=np.float32)
    probabilities = np.array([0.3, 0.7], dtype=np.float32)
    render(data, class_maps, probabilities, RenderRequest(Picture.overlay, 0.5, Colormap.jet, None), max_pixels, 1)
    decode_ms, decoded = timed(reps, lambda: np.asarray(decode_photo(data, max_pixels).image))
    height, width = decoded.shape[:2]
    cam = select_cam(class_maps, probabilities, None)
    upsample_ms, upsampled = timed(reps, lambda: upsample(cam, width, height))
    colorize_ms, heatmap = timed(reps, lambda: colorize(upsampled, Colormap.jet))
    blend_ms, overlay = timed(reps, lambda: blend(decoded, heatmap, 0.5))
    png = []
    for level in LEVELS:
        encode_ms, encoded = timed(reps, functools.partial(encode_png, overlay, level))
        png.append({"level": level, "ms": encode_ms, "bytes": len(encoded)})
    return {
        "photo": name,
        "width": width,
        "height": height,
        "input_bytes": len(data),
        "steps_ms": {"decode": decode_ms, "upsample": upsample_ms, "colorize": colorize_ms, "blend": blend_ms},
        "png": png,
    }


def print_table(results: dict[str, Any]) -> None:
    """Steps, then one row per zlib level with its size relative to level 0 and to the raw RGB."""
    print(f"median of {results['reps']}; {machine_summary(results)}")
    for photo in results["photos"]:
        raw = photo["width"] * photo["height"] * 3
        steps = ", ".join(f"{step} {ms:.1f}" for step, ms in photo["steps_ms"].items())
        print(f"{photo['photo']} ({photo['width']}x{photo['height']}, {photo['input_bytes']:,} B): {steps} ms")
        print(f"{'level':>7} {'ms':>9} {'bytes':>12} {'of raw':>7}")
        for row in photo["png"]:
            print(f"{row['level']:7d} {row['ms']:9.1f} {row['bytes']:12,d} {row['bytes'] / raw:7.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.render", description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="timed calls per step (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "render.json", help="JSON results")
    args = parser.parse_args()
    if args.reps < 1:
        parser.error("--reps must be positive")

    rng = np.random.default_rng(args.seed)
    max_pixels = Settings().max_pixels
    large = jpeg_bytes(synthetic_photo(*LARGE_SIZE, rng))
    load_before = load_average_1m()
    photos = [
        measure(str(CHELSEA.relative_to(REPOSITORY)), CHELSEA.read_bytes(), args.reps, max_pixels, rng),
        measure("generated {}x{} JPEG q90".format(*LARGE_SIZE), large, args.reps, max_pixels, rng),
    ]
    load_after = load_average_1m()
    results = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "reps": args.reps,
        "photos": photos,
        **machine_facts(load_before, load_after),
    }
    write_results(args.output, results)
    print_table(results)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
