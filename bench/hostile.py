"""What hostile connections cost a ``camserve serve`` with its default limits, measured from outside.

Three waves against one server, each beside a well-behaved client:

- memory: 8 clients each start a 128 MiB request header and never finish it; the server's RSS before, at its
  peak while they send, and 10 s after they leave, and whether the bystander's requests all succeeded;
- a trickler: one header line per second, never ending the head; how long until the server hangs up;
- 500 slow connections, each half a request head, then one real POST of tests/chelsea.png beside them.

Run from the repository root, in the project's venv (``pip install -e '.[bench]'``)::

    python -m bench.hostile

Writes bench/results/hostile.json.
"""

import argparse
import socket
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.lib import raw_http
from bench.lib.paths import CHELSEA, RESULTS_DIR
from bench.lib.raw_http import send_until_refused
from bench.lib.server import running_server, server_process
from camserve.models.evaluation.measurement import load_average_1m, machine_facts, write_results

MIB = 1024 * 1024
HEAD = b"GET /healthz HTTP/1.1\r\nHost: camserve\r\n"


def connect(base: httpx.URL, timeout_s: float = 30.0) -> socket.socket:
    return raw_http.connect(str(base), timeout_s)


def rss_mib(pid: int) -> float:
    return round(psutil.Process(pid).memory_info().rss / MIB, 1)


def memory_wave(client: httpx.Client, pid: int, clients: int, header_mib: int) -> dict[str, Any]:
    before = rss_mib(pid)

    def hostile() -> None:
        with connect(client.base_url) as sock:
            send_until_refused(sock, [HEAD + b"X-Huge: "] + [b"a" * MIB] * header_mib)

    threads = [threading.Thread(target=hostile) for _ in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    peak, answered, failed = before, 0, 0
    while any(thread.is_alive() for thread in threads):
        try:
            ok = client.get("/healthz").status_code == 200
        except httpx.HTTPError:
            ok = False
        answered, failed = answered + ok, failed + (not ok)
        peak = max(peak, rss_mib(pid))
    for thread in threads:
        thread.join()
    wave_s = time.monotonic() - started
    time.sleep(10)
    return {
        "clients": clients,
        "header_mib": header_mib,
        "wave_s": round(wave_s, 2),
        "rss_before_mib": before,
        "rss_peak_mib": peak,
        "rss_10s_after_mib": rss_mib(pid),
        "bystander_ok": answered,
        "bystander_failed": failed,
    }


def trickle(client: httpx.Client, limit_s: float) -> dict[str, Any]:
    started = time.monotonic()
    with connect(client.base_url, timeout_s=limit_s) as sock:
        sock.sendall(HEAD)
        send_until_refused(sock, (b"X-Slow: 1\r\n" for _ in range(int(limit_s))), pause_s=1.0)
        try:
            answer = sock.recv(200).split(b"\r\n")[0].decode()
        except OSError as error:
            answer = type(error).__name__
    return {"disconnected_after_s": round(time.monotonic() - started, 2), "answer": answer}


def slow_crowd(client: httpx.Client, connections: int) -> dict[str, Any]:
    crowd = []
    try:
        for _ in range(connections):
            sock = connect(client.base_url)
            sock.sendall(HEAD)
            crowd.append(sock)
        started = time.monotonic()
        with CHELSEA.open("rb") as photo:
            status = client.post("/predictions", files={"file": photo}).status_code
        post_s = time.monotonic() - started
    finally:
        for sock in crowd:
            sock.close()
    return {"connections": connections, "post_status": status, "post_s": round(post_s, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8, help="clients in the memory wave (default 8)")
    parser.add_argument("--header-mib", type=int, default=128, help="header each of them starts (default 128)")
    parser.add_argument("--slow", type=int, default=500, help="slow connections beside the POST (default 500)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "hostile.json", help="JSON results")
    args = parser.parse_args()
    load_before = load_average_1m()
    with tempfile.TemporaryDirectory(prefix="camserve-hostile-") as tmp, running_server(Path(tmp)) as (client, _):
        pid = server_process(client).pid
        results = {
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "memory": memory_wave(client, pid, args.clients, args.header_mib),
            "trickle": trickle(client, limit_s=60.0),
            "slow_crowd": slow_crowd(client, args.slow),
            **machine_facts(load_before, load_average_1m()),
        }
    write_results(args.output, results)
    memory, trickled, crowd = results["memory"], results["trickle"], results["slow_crowd"]
    print(
        f"memory: {memory['clients']} x {memory['header_mib']} MiB heads in {memory['wave_s']} s; RSS "
        f"{memory['rss_before_mib']} -> peak {memory['rss_peak_mib']} -> {memory['rss_10s_after_mib']} MiB 10 s "
        f"after; bystander {memory['bystander_ok']} answered, {memory['bystander_failed']} failed"
    )
    print(f"trickle: disconnected after {trickled['disconnected_after_s']} s ({trickled['answer']})")
    print(f"slow crowd: {crowd['connections']} connections, POST {crowd['post_status']} in {crowd['post_s']} s")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
