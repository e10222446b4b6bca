"""camserve running for tests: the app under a TestClient, and ``camserve serve`` as a real process."""

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient


def wait_until_ready(client: TestClient, timeout_s: float = 60.0) -> None:
    """Warm-up runs in the background after start-up; wait for /readyz like a load balancer would."""
    deadline = time.monotonic() + timeout_s
    while client.get("/readyz").status_code != 200:
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not become ready")
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class CamserveProcess:
    """A running ``camserve serve``: its base URL, and its process for tests that inspect or kill it."""

    base: str
    process: subprocess.Popen[bytes]


@contextmanager
def camserve_process(
    store_path: Path,
    timeout_s: float = 150.0,
    env: dict[str, str] | None = None,
    command: tuple[str, ...] = (sys.executable, "-m", "camserve"),
    cwd: Path | None = None,
) -> Iterator[CamserveProcess]:
    """``camserve serve`` as a real process, as the README runs it, once it is ready; ``env`` adds variables,
    ``command`` replaces how camserve is started (an installed script, another interpreter).

    Its output goes to a file beside the store, not a pipe: nobody drains a pipe while tests run, and a
    full one would stall the server. The file is appended to, so a restart on the same store keeps both logs.
    """
    port = free_port()
    env = {**os.environ, **(env or {}), "CAMSERVE_STORE_PATH": str(store_path)}
    log_path = store_path.with_suffix(".log")
    base = f"http://127.0.0.1:{port}"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [*command, "serve", "--port", str(port)], env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            server_log = partial(log_path.read_text, errors="replace")
            _await_readyz(base, lambda: process.poll() is None, server_log, timeout_s, 0.2)
            yield CamserveProcess(base, process)
        finally:
            if process.poll() is None:
                process.terminate()
            process.wait(timeout=30)


@contextmanager
def serve_camserve(store_path: Path, timeout_s: float = 150.0, env: dict[str, str] | None = None) -> Iterator[str]:
    """``camserve_process`` for tests that need only its base URL."""
    with camserve_process(store_path, timeout_s, env) as server:
        yield server.base


def _await_readyz(
    base: str, running: Callable[[], bool], why_stopped: Callable[[], str], timeout_s: float, interval_s: float
) -> None:
    """Poll ``base``/readyz until it is 200, failing at once (with ``why_stopped()``) if the server stops first."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert running(), why_stopped()
        try:
            if httpx.get(f"{base}/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "server did not become ready"
        time.sleep(interval_s)


@contextmanager
def app_on_a_socket(app: FastAPI, timeout_s: float = 60.0) -> Iterator[str]:
    """``app`` under a real uvicorn on a free port, on a thread of this process, once /readyz is 200: for clients
    that need a socket (tritonclient), with predictors the tests have loaded already. Yields the base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="camserve-uvicorn", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        _await_readyz(base, thread.is_alive, lambda: "the server stopped while starting", timeout_s, 0.05)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def post(client: TestClient, data: bytes, name: str = "photo.png") -> httpx.Response:
    """POST one photo as the multipart field ``file``, as the page and curl send it."""
    return client.post("/predictions", files={"file": (name, data, "application/octet-stream")})
