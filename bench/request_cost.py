"""Where one request's time goes beyond the forward: per-stage cost of sequential POSTs, and a profile.

Sends POSTs one at a time (concurrency 1, so nothing queues) of a 500x375 JPEG to real ``camserve serve``
subprocesses and reads each server's own stage histograms from /metrics (``camserve_stage_seconds``:
decode, queue wait, inference, store) and its request histogram, so a request's time splits into:

- client: what the client waited, connection and all;
- server: from the request's first byte in the app to its response (``camserve_http_request_seconds``);
- each stage's mean, and ``other``: the server's time in none of the stages (multipart parsing, thread
  hops, building the response).

With two configurations (``--a`` and ``--b``, as bench/compare.py) both servers run at once and take turns
in blocks, A B B A ..., so both see the same drift of these shared cores. ``--profile`` also samples the
first server with py-spy while it serves and prints the functions it spent most time in (leaf frames),
so the largest fixed costs can be found by name.

Run from the repository root, in the project's venv::

    python -m bench.request_cost
    python -m bench.request_cost --profile
    python -m bench.request_cost --a PYTHONPATH=/tmp/baseline-site --b CAMSERVE_BATCH_MAX_SIZE=8   # see bench.compare

Writes bench/results/request_cost.json.
"""

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.lib.paths import RESULTS_DIR
from bench.lib.photos import jpeg_bytes, synthetic_photo
from bench.lib.server import parse_env, server_process
from bench.lib.stage_costs import PHOTO_SIZE, STAGES, block, stage_means, warmed_servers
from camserve.models.evaluation.measurement import load_average_1m, machine_facts, turns, write_results


def profile_summary(collapsed: Path, top: int) -> list[tuple[str, float]]:
    """The leaf frames py-spy saw most often, as shares of all samples."""
    leaves = Counter[str]()
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        leaves[stack.rsplit(";", 1)[-1]] += int(count)
    samples = sum(leaves.values()) or 1
    return [(frame, round(100.0 * n / samples, 1)) for frame, n in leaves.most_common(top)]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.request_cost", description=__doc__.splitlines()[0])
    parser.add_argument("--a", nargs="*", default=[], metavar="KEY=VALUE", help="first server's environment")
    parser.add_argument("--b", nargs="*", metavar="KEY=VALUE", help="second server's environment (omit: one server)")
    parser.add_argument("--photo", type=Path, help="the photo to POST (default: a generated 500x375 JPEG)")
    parser.add_argument("--rounds", type=int, default=6, help="blocks per server (default 6)")
    parser.add_argument("--requests", type=int, default=40, help="sequential POSTs per block (default 40)")
    parser.add_argument("--profile", action="store_true", help="sample the first server with py-spy")
    parser.add_argument("--top", type=int, default=25, help="leaf frames the profile lists (default 25)")
    parser.add_argument("--profile-output", type=Path, help="keep py-spy's collapsed stacks here (for a flame graph)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "request_cost.json")
    args = parser.parse_args()
    configs = {"a": parse_env(args.a)} | ({"b": parse_env(args.b)} if args.b is not None else {})
    photo = (
        args.photo.read_bytes() if args.photo else jpeg_bytes(synthetic_photo(*PHOTO_SIZE, np.random.default_rng(0)))
    )

    load_before = load_average_1m()
    blocks: dict[str, list[dict[str, Any]]] = {side: [] for side in configs}
    profile: list[tuple[str, float]] = []
    with ExitStack() as stack:
        clients = warmed_servers(stack, configs, photo, "camserve-cost-")
        spy = None
        if args.profile:
            py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
            if py_spy is None:
                raise SystemExit("--profile needs py-spy (the bench extra: pip install -e '.[bench]')")
            pid = server_process(clients["a"]).pid
            collapsed = (
                Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="camserve-profile-"))) / "profile.txt"
            )
            command = [py_spy, "record", "--pid", str(pid), "--format", "raw", "--output", str(collapsed)]
            spy = subprocess.Popen([*command, "--rate", "250", "--nonblocking"], stderr=subprocess.DEVNULL)
        sides = turns(args.rounds) if len(configs) == 2 else [(i, "a") for i in range(args.rounds)]
        for _, side in sides:
            blocks[side].append(block(clients[side], photo, args.requests))
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
            profile = profile_summary(collapsed, args.top)
            if args.profile_output:
                shutil.copy(collapsed, args.profile_output)
    results = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "photo": str(args.photo) if args.photo else f"generated {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]} JPEG",
        "configs": {side: {"env": env, **stage_means(blocks[side])} for side, env in configs.items()},
        "profile_leaf_frames_percent": profile,
        **machine_facts(load_before, load_average_1m()),
    }
    write_results(args.output, results)
    columns = ("client_p50_ms", "server_mean_ms", *(f"{s}_ms" for s in STAGES), "other_ms", "beyond_forward_ms")
    print(f"{'':>4}" + "".join(f"{c.removesuffix('_ms'):>16}" for c in columns))
    for side, figures in results["configs"].items():
        print(f"{side:>4}" + "".join(f"{figures[c]:>16.2f}" for c in columns) + f"   {figures['env'] or ''}")
    for frame, share in profile:
        print(f"{share:6.1f}%  {frame}")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
