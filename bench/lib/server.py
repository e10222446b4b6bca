"""A real ``camserve serve`` for a benchmark to measure: started from this venv, found by its port, its CPU counted.

Every benchmark that sends HTTP measures the server as users run it, in a process of its own, so that
start-up, workers and the event loop are all in the figures.
"""

import argparse
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.lib.cgroup import MemoryCgroup
from camserve.service.security import API_KEY_HEADER
from camserve.service.settings import Settings

SETTLE_WINDOW_S = 0.2
SETTLE_IDLE_CORES = 0.5  # working off requests takes every core; an idle LitServe peer polls at about a fifth
SETTLE_TIMEOUT_S = 60.0

READY_TIMEOUT_S = 180.0  # model load and warm-up on a busy 2-core machine


def free_port() -> int:
    """A port the OS just handed out; the server binds it moments later (a race we accept for a benchmark)."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_server(
    store_dir: Path, env: dict[str, str] | None = None, cgroup: MemoryCgroup | None = None
) -> Iterator[tuple[httpx.Client, dict[str, Any]]]:
    """Start ``camserve serve`` from this venv, wait until /readyz says ready; yield a client and that body.

    The server inherits this process's environment (so ``CAMSERVE_*`` settings apply to it), updated with
    ``env``, with its store in ``store_dir``. Its output goes to a log file (a full pipe would stall it)
    whose tail is shown if start-up fails. With ``cgroup``, the server runs inside it from its start.
    """
    port = free_port()
    env = {**os.environ, **(env or {}), "CAMSERVE_STORE_PATH": str(store_dir / "camserve.sqlite3")}
    command = [str(Path(sys.executable).with_name("camserve")), "serve", "--host", "127.0.0.1", "--port", str(port)]
    if cgroup is not None:
        command = cgroup.command(command)
    log_path = store_dir / "serve.log"
    with log_path.open("wb") as log, subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT) as server:
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60.0) as client:
                body: dict[str, Any] = wait_until_ready(client, server, log_path).json()
                yield client, body
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()


def wait_until_ready(
    client: httpx.Client,
    server: subprocess.Popen[bytes],
    log_path: Path,
    path: str = "/readyz",
    timeout_s: float = READY_TIMEOUT_S,
) -> httpx.Response:
    """Poll ``path`` (camserve's /readyz, or a peer server's health check) until it answers 200; fail fast, with
    the server's own words, if it exits or never becomes ready."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"{server.args!r} exited with {server.returncode}:\n{log_path.read_text()[-2000:]}")
        try:
            response: httpx.Response | None = client.get(path)
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code == 200:
            return response
        time.sleep(0.25)
    sys.exit(f"{server.args!r} not ready after {timeout_s:.0f}s:\n{log_path.read_text()[-2000:]}")


def server_process(client: httpx.Client) -> psutil.Process:
    """The ``camserve serve`` child that ``client`` (from ``running_server``) talks to, found by its port."""
    port = client.base_url.port
    for child in psutil.Process().children():
        if str(port) in child.cmdline():
            return child
    sys.exit(f"no child process serving port {port}")


def cpu_seconds(process: psutil.Process) -> float:
    """The process's CPU time and its children's: a server such as LitServe works in child processes."""
    processes = [process, *process.children(recursive=True)]
    return sum(times.user + times.system for times in (p.cpu_times() for p in processes))


@contextmanager
def paused(processes: list[psutil.Process]) -> Iterator[None]:
    """Stop these servers and their children (SIGSTOP) for the block, and let them go on after it, also on errors.
    Servers that take turns are all up at once, and an idle one is not free: an idle LitServe peer polls its
    queues at about a fifth of a core here, taken from the one being measured and from a bare forward."""
    stopped = [p for process in processes for p in (process, *process.children(recursive=True))]
    for process in stopped:
        process.suspend()
    try:
        yield
    finally:
        for process in stopped:
            process.resume()


def settle(process: psutil.Process) -> float:
    """Wait until the server (its children too) has worked off what a finished wrk run left in flight, and
    return how long that took. wrk ends with up to ``concurrency`` requests unanswered, which the server goes on
    answering: without this, a warm-up's leftovers sit in front of the timed run's first requests (at c64, a
    second's queue in front of about 5% of a 20 s run: its p99, not the server's), and a timed run's leftovers
    take cores from the next server's round. Idle is a window in which it spent under half a core."""
    started = time.monotonic()
    while time.monotonic() - started < SETTLE_TIMEOUT_S:
        before = cpu_seconds(process)
        time.sleep(SETTLE_WINDOW_S)
        if cpu_seconds(process) - before < SETTLE_IDLE_CORES * SETTLE_WINDOW_S:
            break
    return round(time.monotonic() - started, 2)


def api_headers() -> dict[str, str]:
    """The X-API-Key header a server started from this environment will ask for, if any."""
    api_key = Settings().api_key
    return {API_KEY_HEADER: api_key.get_secret_value()} if api_key else {}


def parse_env(pairs: list[str]) -> dict[str, str]:
    """``KEY=VALUE`` arguments as a server's environment overrides; ArgumentTypeError names the one that is not."""
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"--env expects KEY=VALUE, got {pair!r}")
        overrides[key] = value
    return overrides
