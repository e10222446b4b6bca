"""What one ``PredictionStore.put`` costs as the store fills towards its bound.

Every POST stores its photo, class maps and JSON before answering, under the store's lock, so a put that
grows with the store's size would slow every request as the service ages. This fills a temporary store
with photo-sized rows (64 kB, the benchmark JPEGs' mean) and times puts at each fill level, eviction
included once the bound is reached.

Run from the repository root, in the project's venv::

    python -m bench.store
    python -m bench.store --fill-mb 64 256 1024 --photo-kb 64
    python -m bench.store --store-url postgresql://... [--blob-url s3://bucket/prefix]   # an empty database

Prints a table and writes bench/results/store.json.
"""

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bench.lib.paths import RESULTS_DIR
from bench.lib.stored_result import stored_result
from camserve.models.evaluation.measurement import load_average_1m, machine_facts, write_results
from camserve.service.settings import Settings
from camserve.service.stores import StoreLimits, open_store

TIMED_PUTS = 30


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.store", description=__doc__.splitlines()[0])
    parser.add_argument("--fill-mb", type=int, nargs="+", default=[8, 64, 256, 1024], help="fill levels, MB")
    parser.add_argument("--photo-kb", type=int, default=64, help="photo bytes per row, kB (default 64)")
    parser.add_argument("--store-url", help="the store to fill (default: a temporary SQLite file)")
    parser.add_argument("--blob-url", help="photo bytes in this bucket (with a postgresql --store-url)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "store.json")
    args = parser.parse_args()
    bound = Settings().store_max_bytes
    photo = bytes(args.photo_kb * 1000)
    maps = np.zeros((2, 9, 9), dtype=np.float32)
    result = stored_result(("cat", "dog"))
    load_before = load_average_1m()
    rows = []
    with tempfile.TemporaryDirectory(prefix="camserve-store-") as tmp:
        url = args.store_url or f"sqlite:///{tmp}/store.sqlite3"
        store = open_store(url, StoreLimits(bound), args.blob_url)
        count = 0
        try:
            for fill_mb in sorted(args.fill_mb):
                while store.total_bytes() < min(fill_mb * 1_000_000, bound) - TIMED_PUTS * len(photo):
                    store.put(f"fill{count}", result, photo, maps)
                    count += 1
                times_ms = []
                for _ in range(TIMED_PUTS):
                    started = time.perf_counter()
                    store.put(f"fill{count}", result, photo, maps)
                    times_ms.append((time.perf_counter() - started) * 1000.0)
                    count += 1
                row = {
                    "fill_mb": round(store.total_bytes() / 1_000_000, 1),
                    "rows": store.count(),
                    "put_p50_ms": round(statistics.median(times_ms), 3),
                    "put_max_ms": round(max(times_ms), 3),
                }
                rows.append(row)
                print(f"{row['fill_mb']:8.1f} MB {row['rows']:7d} rows: put p50 {row['put_p50_ms']:7.2f} ms")
        finally:
            store.close()
    write_results(
        args.output,
        {
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "store": store.kind,
            "photo_bytes": len(photo),
            "store_max_bytes": bound,
            "levels": rows,
            **machine_facts(load_before, load_average_1m()),
        },
    )
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
