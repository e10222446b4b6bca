"""What the benchmarks share: a real ``camserve serve`` subprocess, test photos, and the machine they ran on.

Kept in one place so latency, load and render numbers are taken the same way and can be compared.
"""

import io
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np
import psutil
import torch
from PIL import Image, ImageDraw

from camserve.models.selection.hardware import PRECISION_FLAGS, cpu_flags, cpu_model_name

ROOT = Path(__file__).resolve().parent.parent
# The tests' raw-socket clients (tests/support) serve the benchmarks too; scripts run with bench/ on the path.
sys.path.insert(0, str(ROOT))
RESULTS_DIR = ROOT / "bench" / "results"
T = TypeVar("T")
READY_TIMEOUT_S = 180.0  # model load and warm-up on a busy 2-core machine


def timed(reps: int, step: Callable[[], T]) -> tuple[float, T]:
    """Median milliseconds of ``reps`` calls (to 0.01 ms), and the last result. No warm-up here: a caller
    timing many steps warms up once for all of them, where a warm-up per step could double the run."""
    times_s = []
    for _ in range(reps):
        started = time.perf_counter()
        result = step()
        times_s.append(time.perf_counter() - started)
    return round(statistics.median(times_s) * 1000.0, 2), result


def free_port() -> int:
    """A port the OS just handed out; the server binds it moments later (a race we accept for a benchmark)."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(store_dir: Path, env: dict[str, str] | None = None) -> Iterator[tuple[httpx.Client, dict[str, Any]]]:
    """Start ``camserve serve`` from this venv, wait until /readyz says ready; yield a client and that body.

    The server inherits this process's environment (so ``CAMSERVE_*`` settings apply to it), updated with
    ``env``, with its store in ``store_dir``. Its output goes to a log file (a full pipe would stall it)
    whose tail is shown if start-up fails.
    """
    port = free_port()
    env = {**os.environ, **(env or {}), "CAMSERVE_STORE_PATH": str(store_dir / "camserve.sqlite3")}
    command = [str(Path(sys.executable).with_name("camserve")), "serve", "--host", "127.0.0.1", "--port", str(port)]
    log_path = store_dir / "serve.log"
    with log_path.open("wb") as log, subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT) as server:
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60.0) as client:
                yield client, wait_until_ready(client, server, log_path).json()
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()


def server_process(port: int) -> psutil.Process:
    """The ``camserve serve`` child that listens on ``port``; ``running_server`` yields a client, not the pid."""
    for child in psutil.Process().children():
        if str(port) in child.cmdline():
            return child
    sys.exit(f"no child process serving port {port}")


def wait_until_ready(
    client: httpx.Client, server: subprocess.Popen[bytes], log_path: Path, path: str = "/readyz"
) -> httpx.Response:
    """Poll ``path`` (camserve's /readyz, or a peer server's health check) until it answers 200; fail fast, with
    the server's own words, if it exits or never becomes ready."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"{server.args!r} exited with {server.returncode}:\n{log_path.read_text()[-2000:]}")
        try:
            response = client.get(path)
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code == 200:
            return response
        time.sleep(0.25)
    sys.exit(f"{server.args!r} not ready after {READY_TIMEOUT_S:.0f}s:\n{log_path.read_text()[-2000:]}")


def synthetic_photo(width: int, height: int, rng: np.random.Generator) -> Image.Image:
    """A photo-like RGB picture: smooth colour gradients with a few soft-edged shapes.

    Used where real photos are absent or too small; it compresses roughly like a photo, unlike noise
    (incompressible) or flat colour (free), so decode and encode timings stay meaningful.
    """
    corners = rng.integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
    image = Image.fromarray(corners, "RGB").resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x0, x1 = sorted(rng.integers(0, width, size=2).tolist())
        y0, y1 = sorted(rng.integers(0, height, size=2).tolist())
        colour = tuple(rng.integers(0, 256, size=3).tolist())
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x0, y0, x1, y1), fill=colour)
    grain = rng.normal(0.0, 4.0, size=(height, width, 3))
    return Image.fromarray(np.clip(np.asarray(image, dtype=np.float32) + grain, 0, 255).astype(np.uint8), "RGB")


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    """Encode in memory, the way a camera or phone upload would arrive."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def load_average_1m() -> float:
    return round(os.getloadavg()[0], 2)


def cpu_model() -> str:
    """The CPU's model name as Linux reports it; ``platform.processor()`` is often empty there."""
    return cpu_model_name() or platform.processor() or platform.machine()


def environment(load_before: float, load_after: float) -> dict[str, Any]:
    """Torch and machine facts for the JSON; a 1-minute load average well above the CPU count means the
    neighbours were measured as much as camserve. The CPU flags say which reduced precisions it computes
    natively (bf16, int8), which decides what the runtimes can offer."""
    return {
        "torch": {
            "version": torch.__version__,
            "threads": torch.get_num_threads(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
        },
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "cpu_model": cpu_model(),
            "cpu_flags": {flag: flag in cpu_flags() for flag in PRECISION_FLAGS},
            "load_average_1m": {"before": load_before, "after": load_after},
        },
    }


def write_results(path: Path, results: dict[str, Any]) -> None:
    """Every benchmark leaves its figures as JSON, so runs can be compared and quoted."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
