"""The connection guard, against a real ``camserve serve``: bounded heads, deadlines for slow clients, a cap on
connections, and memory that comes back after a hostile wave. Limits are set short so no test holds a
connection much longer than the limit it checks."""

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from bench.lib import raw_http
from bench.lib.raw_http import read_until_closed, send_until_refused
from tests.support.docs_pages import assert_docs_load_only_local_files
from tests.support.photos import CHELSEA
from tests.support.servers import CamserveProcess, camserve_process

MIB = 1024 * 1024
HEAD_TIMEOUT_S = 1.0
BODY_GRACE_S = 1.0
MULTIPART_HEAD = (
    b"POST /predictions HTTP/1.1\r\nHost: camserve\r\nContent-Type: multipart/form-data; boundary=bb\r\n"
    b'Content-Length: 100000\r\n\r\n--bb\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
)


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CamserveProcess]:
    env = {"CAMSERVE_HEAD_TIMEOUT_S": str(HEAD_TIMEOUT_S), "CAMSERVE_BODY_GRACE_S": str(BODY_GRACE_S)}
    with camserve_process(tmp_path_factory.mktemp("strict") / "store.sqlite3", env=env) as server:
        yield server


def connect(server: CamserveProcess, timeout_s: float = 10.0) -> socket.socket:
    return raw_http.connect(server.base, timeout_s)


def test_an_oversized_head_gets_431_and_is_cut_off(strict_server: CamserveProcess) -> None:
    with connect(strict_server) as sock:
        header = b"GET /healthz HTTP/1.1\r\nHost: camserve\r\nX-Padding: "
        send_until_refused(sock, iter([header] + [b"a" * 65536] * 64))
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b"larger than 16384 bytes" in answer
    assert b"\r\nx-content-type-options: nosniff\r\n" in answer  # as on every answer the app sends


def test_the_docs_and_their_files_come_through_the_guard(strict_server: CamserveProcess) -> None:
    """A browser opening /docs fetches the page and its 1-2 MB scripts on kept-alive connections, as here."""
    with httpx.Client(base_url=strict_server.base) as client:
        assert_docs_load_only_local_files(client)


@pytest.mark.parametrize("head_bytes", [16_500, 30_000, 60_000])
def test_an_oversized_head_in_one_read_gets_431(strict_server: CamserveProcess, head_bytes: int) -> None:
    """A head that arrives whole in one read is parsed before the byte count sees it: it must be refused too."""
    start = b"GET /healthz HTTP/1.1\r\nHost: camserve\r\nX-Padding: "
    head = start + b"a" * (head_bytes - len(start) - 4) + b"\r\n\r\n"
    with connect(strict_server) as sock:
        sock.sendall(head)
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]


def test_a_head_just_within_the_limit_in_one_read_is_served(strict_server: CamserveProcess) -> None:
    start = b"GET /healthz HTTP/1.1\r\nHost: camserve\r\nX-Padding: "
    head = start + b"a" * (16_384 - len(start) - 4) + b"\r\n\r\n"
    assert len(head) == 16_384
    with connect(strict_server) as sock:
        sock.sendall(head)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:100]


def test_a_trickled_head_is_cut_off_at_the_deadline(strict_server: CamserveProcess) -> None:
    started = time.monotonic()
    with connect(strict_server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        send_until_refused(sock, iter([b"X-Slow: 1\r\n"] * 100), pause_s=0.1)
        answer = read_until_closed(sock)
    assert HEAD_TIMEOUT_S <= time.monotonic() - started < HEAD_TIMEOUT_S + 3
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"\r\nx-content-type-options: nosniff\r\n" in answer


def test_a_silent_connection_is_closed_quietly_at_the_deadline(strict_server: CamserveProcess) -> None:
    started = time.monotonic()
    with connect(strict_server) as sock:
        assert read_until_closed(sock) == b""
    assert HEAD_TIMEOUT_S <= time.monotonic() - started < HEAD_TIMEOUT_S + 3


def test_a_body_slower_than_the_minimum_rate_is_cut_off(strict_server: CamserveProcess) -> None:
    started = time.monotonic()
    with connect(strict_server) as sock:
        sock.sendall(MULTIPART_HEAD)
        send_until_refused(sock, iter([b"x" * 16] * 100), pause_s=0.1)
        answer = read_until_closed(sock)
    assert BODY_GRACE_S <= time.monotonic() - started < BODY_GRACE_S + 3
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"slower than 1024 bytes/s" in answer


def test_an_idle_keep_alive_connection_outlives_the_head_deadline(strict_server: CamserveProcess) -> None:
    """The head deadline starts at a request's first byte: between requests, the keep-alive timeout rules."""
    with httpx.Client(base_url=strict_server.base) as client:
        assert client.get("/healthz").status_code == 200
        time.sleep(HEAD_TIMEOUT_S + 0.5)
        assert client.get("/healthz").status_code == 200


def rss_mib(process: psutil.Process) -> float:
    return process.memory_info().rss / MIB


def test_a_wave_of_huge_unfinished_heads_leaves_memory_and_other_clients_alone(
    strict_server: CamserveProcess,
) -> None:
    """8 clients each start a 128 MiB header; the server reads a few KiB of each, answers 431 and closes."""
    server = psutil.Process(strict_server.process.pid)
    before = rss_mib(server)
    peak = before
    header = b"GET /healthz HTTP/1.1\r\nHost: camserve\r\nX-Huge: "

    def hostile() -> None:
        with connect(strict_server) as sock:
            send_until_refused(sock, iter([header] + [b"a" * MIB] * 128))

    clients = [threading.Thread(target=hostile) for _ in range(8)]
    for client in clients:
        client.start()
    with httpx.Client(base_url=strict_server.base, timeout=5) as bystander:
        while any(client.is_alive() for client in clients):
            assert bystander.get("/healthz").status_code == 200
            peak = max(peak, rss_mib(server))
    for client in clients:
        client.join(timeout=30)
    assert peak - before <= 50
    deadline = time.monotonic() + 10
    while rss_mib(server) - before > 20 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert rss_mib(server) - before <= 20


def test_metrics_show_memory_and_connections(strict_server: CamserveProcess) -> None:
    text = httpx.get(f"{strict_server.base}/metrics").text
    assert "process_resident_memory_bytes " in text
    assert "camserve_open_connections " in text
    assert 'camserve_connections_closed_total{reason="head_too_large"}' in text


@pytest.fixture(scope="module")
def capped_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CamserveProcess]:
    env = {"CAMSERVE_MAX_CONNECTIONS": "8", "CAMSERVE_HEAD_TIMEOUT_S": "30"}
    with camserve_process(tmp_path_factory.mktemp("capped") / "store.sqlite3", env=env) as server:
        yield server


def test_past_the_cap_new_connections_get_503_and_established_ones_are_served(capped_server: CamserveProcess) -> None:
    with httpx.Client(base_url=capped_server.base) as established:
        assert established.get("/healthz").status_code == 200
        idle = [connect(capped_server) for _ in range(7)]  # with the established one: the cap of 8
        try:
            started = time.monotonic()
            with connect(capped_server) as refused:
                answer = read_until_closed(refused)
            assert time.monotonic() - started < 1
            assert answer.startswith(b"HTTP/1.1 503 ")
            assert b"retry-after: 1" in answer
            assert b"\r\nx-content-type-options: nosniff\r\n" in answer
            assert established.get("/healthz").status_code == 200
        finally:
            for sock in idle:
                sock.close()


def test_five_hundred_slow_connections_do_not_hold_up_a_photo(tmp_path: Path) -> None:
    """With the default limits: 500 clients each send half a head and wait; a real POST beside them is
    answered promptly."""
    with camserve_process(tmp_path / "store.sqlite3") as server:
        slow = []
        try:
            for _ in range(500):
                sock = connect(server)
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: camserve\r\n")
                slow.append(sock)
            started = time.monotonic()
            with CHELSEA.open("rb") as photo:
                response = httpx.post(f"{server.base}/predictions", files={"file": photo}, timeout=10)
            elapsed = time.monotonic() - started
        finally:
            for sock in slow:
                sock.close()
    assert response.status_code == 201
    assert elapsed < 2
