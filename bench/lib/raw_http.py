"""Clients that speak HTTP on a bare socket, as hostile ones do: half a head, a trickle, a flood that never ends.

Shared by bench/hostile.py and the tests of the connection guard (tests/service/test_connections.py) and the
cluster (tests/scripts/test_cluster.py).
"""

import socket
import time
from collections.abc import Iterable


def connect(base_url: str, timeout_s: float = 10.0) -> socket.socket:
    host, port = base_url.removeprefix("http://").rstrip("/").split(":")
    return socket.create_connection((host, int(port)), timeout=timeout_s)


def read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def send_until_refused(sock: socket.socket, chunks: Iterable[bytes], pause_s: float = 0.0) -> None:
    """Keep sending, as a hostile client would, until the server stops listening."""
    try:
        for chunk in chunks:
            sock.sendall(chunk)
            time.sleep(pause_s)
    except OSError:
        pass
