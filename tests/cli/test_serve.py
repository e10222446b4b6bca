"""``camserve serve`` as a real process: a damaged store refused in one line before anything binds, and SIGTERM
answered by a drain and exit status 0, as Kubernetes, docker and systemd expect of a clean stop."""

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from bench.lib import raw_http
from bench.lib.raw_http import read_until_closed
from tests.support.photos import CHELSEA
from tests.support.polling import wait_for
from tests.support.servers import camserve_process, free_port
from tests.support.stores import truncated_sqlite_store

SERVE = (sys.executable, "-m", "camserve", "serve")


def serve_on(store: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CAMSERVE_STORE_PATH": str(store)}
    return subprocess.run(
        [*SERVE, "--port", str(free_port())], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_a_file_that_is_not_a_database_stops_serve_in_one_line(tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite3"
    store.write_bytes(b"not a database, whatever its name says\n" * 200)
    done = serve_on(store)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"camserve: error: the result store {store} is damaged or not a SQLite database (file is not a database): "
        "move it (with any -wal and -shm files beside it) aside and restart to begin with an empty store, "
        "or restore it from a backup"
    ]


def test_a_truncated_store_stops_serve_in_one_line(tmp_path: Path) -> None:
    cut = truncated_sqlite_store(tmp_path)
    done = serve_on(cut)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"camserve: error: the result store {cut} is damaged or not a SQLite database (")
    assert line.endswith("restart to begin with an empty store, or restore it from a backup")


def multipart(photo: bytes, boundary: str = "camserve-drain") -> tuple[bytes, bytes]:
    """A POST /predictions of ``photo``: its head, which asks for ``100 Continue`` before the body, and its body."""
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="chelsea.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + photo
        + f"\r\n--{boundary}--\r\n".encode()
    )
    head = (
        "POST /predictions HTTP/1.1\r\nHost: camserve\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\n\r\n"
    ).encode()
    return head, body


def read_until(sock: socket.socket, marker: bytes) -> bytes:
    received = b""
    while marker not in received:
        chunk = sock.recv(65536)
        assert chunk, received
        received += chunk
    return received


# The models' loading replaced by one progress line, as the runtime timing logs it (CAMSERVE_BACKEND=auto); serve
# stopped once they loaded.
LOGS_WHILE_LOADING = """
import logging
import sys
from argparse import Namespace

from camserve.cli import serve
from camserve.service.settings import Settings


def loading(_settings: Settings) -> list[object]:
    logging.getLogger("camserve").info("camserve: timing runtime 1 of 3: onnxruntime")
    return [object()]


def stop(_needed: int) -> None:
    raise SystemExit(0)


serve.load_models = loading
serve.ensure_open_files = stop  # the first step after the models loaded and the allocator's line
serve.run(Namespace(host=None, port=None), Settings(store_path=sys.argv[1]))
"""


def test_progress_while_the_models_load_reaches_the_operator(tmp_path: Path) -> None:
    """camserve's INFO lines are shown from the start, as uvicorn's are once it starts: the allocator's settings
    are said, and the first start's runtime timing is not silent."""
    done = subprocess.run(
        [sys.executable, "-c", LOGS_WHILE_LOADING, str(tmp_path / "store.sqlite3")],
        env={name: value for name, value in os.environ.items() if not name.startswith("MALLOC_")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert "INFO:     camserve: timing runtime 1 of 3: onnxruntime" in lines
    assert any(line.startswith("INFO:     camserve: glibc malloc set for large photos: {") for line in lines)


def test_sigterm_drains_the_request_in_flight_then_exits_0(tmp_path: Path) -> None:
    """The upload is half sent when SIGTERM arrives; the server stops listening, takes the rest, answers 201,
    stores the result, and only then exits: with status 0."""
    store = tmp_path / "store.sqlite3"
    log = store.with_suffix(".log")
    head, body = multipart(CHELSEA.read_bytes())
    with camserve_process(store) as server:
        with raw_http.connect(server.base, timeout_s=60) as upload:
            upload.sendall(head)
            continued = read_until(upload, b"\r\n\r\n")  # once the app reads the body: the request is in flight
            assert continued == b"HTTP/1.1 100 Continue\r\n\r\n"
            upload.sendall(body[: len(body) // 2])
            server.process.send_signal(signal.SIGTERM)
            assert wait_for(lambda: "Shutting down" in log.read_text(), timeout_s=30)
            assert server.process.poll() is None  # waiting for the upload
            upload.sendall(body[len(body) // 2 :])
            answer = read_until_closed(upload)
        assert server.process.wait(timeout=60) == 0, log.read_text()
    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 201 Created", answer[:300]
    assert b"\r\nconnection: close\r\n" in rest.lower()
    prediction_id = json.loads(rest.partition(b"\r\n\r\n")[2])["id"]
    with closing(sqlite3.connect(store)) as db:
        assert db.execute("SELECT count(*) FROM predictions WHERE id = ?", (prediction_id,)).fetchone() == (1,)
    assert "Application shutdown complete" in log.read_text()
