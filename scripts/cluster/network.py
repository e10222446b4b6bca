"""Loopback ports and HTTP checks: everything the cluster opens listens on 127.0.0.1 only."""

import socket

import httpx

HOST = "127.0.0.1"


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports, all bound at once while chosen so that none repeats."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def http_status(url: str) -> int | None:
    """The status a GET of ``url`` answers; None when nothing answers within 5 s. Proxy settings are ignored:
    the cluster is on loopback."""
    try:
        return httpx.get(url, timeout=5, trust_env=False).status_code
    except httpx.HTTPError:
        return None


def http_ok(url: str) -> bool:
    status = http_status(url)
    return status is not None and 200 <= status < 300
