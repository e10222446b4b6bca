"""Uploads from wrk, a compiled HTTP load generator (Debian's ``wrk`` 4.1), so the client is not the bottleneck.

On these 2 shared cores every millisecond of client CPU is taken from the server being measured; the Python
generator (bench/lib/load_generator.py) spent 1.5-2 ms of CPU per upload, wrk a small fraction of that. wrk
rather than hey or oha: hey sends one fixed body per process, and the benchmarks cycle through photos of mixed
sizes, which wrk's Lua script can (bench/lib/wrk_uploads.lua).

Each photo's whole request (head and body) is written here, in Python, to a file the script loads once, so the
script only cycles through them and counts the answers; the API key stays in a private file, off the command
line. A run is closed-loop: ``concurrency`` connections each send the next request as soon as the last is
answered, for a whole number of seconds; what is still in flight at the end is neither counted nor awaited.
wrk's CPU includes its start, about 20 ms here (most of it loading the requests), so a short round against a
slow server shows more client CPU per request than a long one.
"""

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.lib.load_generator import REQUEST_TIMEOUT_S
from bench.lib.photos import Photo

INSTALL = ["apt-get", "install", "-y", "wrk"]
SCRIPT = Path(__file__).with_name("wrk_uploads.lua")
BOUNDARY = "camserve-bench-boundary"

Body = tuple[str, bytes]  # Content-Type and the body
BodyBuilder = Callable[[Photo], Body]


def multipart(photo: Photo) -> Body:
    """The photo as a browser's form upload sends it: multipart/form-data, field ``file``, a JPEG."""
    head = (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{photo.name}.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    )
    body = head.encode() + photo.data + f"\r\n--{BOUNDARY}--\r\n".encode()
    return f"multipart/form-data; boundary={BOUNDARY}", body


def http_request(url: str, path: str, headers: dict[str, str], body: Body) -> bytes:
    """One whole HTTP/1.1 POST to ``path`` on ``url``'s host, as wrk sends it on a kept-alive connection."""
    content_type, content = body
    lines = [f"POST {path} HTTP/1.1", f"Host: {urlsplit(url).netloc}", f"Content-Type: {content_type}"]
    lines += [f"Content-Length: {len(content)}", *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + content


@dataclass(frozen=True)
class Requests:
    """Where wrk sends its requests, and the files that hold them, one per photo, cycled through in order."""

    url: str
    files: list[Path]


def write_requests(
    directory: Path, url: str, path: str, headers: dict[str, str], photos: list[Photo], body: BodyBuilder
) -> Requests:
    """Every photo's request in a file of its own under ``directory`` (created, readable by this user only)."""
    directory.mkdir(mode=0o700)
    files = []
    for index, photo in enumerate(photos):
        file = directory / f"{index}.http"
        file.write_bytes(http_request(url, path, headers, body(photo)))
        files.append(file)
    return Requests(url, files)


@dataclass(frozen=True)
class WrkRun:
    """What one wrk run did: the answers by status, the sockets that failed by how, its latency quantiles over
    every answer (ms; None where nothing was answered), and the CPU seconds wrk itself spent."""

    requests: int
    duration_s: float
    statuses: dict[str, int]
    socket_errors: dict[str, int]
    latency_ms: dict[str, float | None]
    cpu_s: float


def executable() -> str:
    """wrk's path, installed with apt-get first where it is missing and this runs as root; else exit saying how."""
    found = shutil.which("wrk")
    if found is None and os.geteuid() == 0:
        print(f"installing wrk: {' '.join(INSTALL)}", file=sys.stderr)
        subprocess.run(INSTALL, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        found = shutil.which("wrk")
    if found is None:
        sys.exit(f"the benchmarks drive servers with wrk, which is not installed: run `{' '.join(INSTALL)}` as root")
    return found


def run(requests: Requests, concurrency: int, seconds: int) -> WrkRun:
    """``concurrency`` connections from one wrk thread (plenty at a few hundred requests a second, and the least
    CPU) for ``seconds``; wrk's own CPU time comes from its rusage as it is reaped."""
    report, log = requests.files[0].with_name("report.json"), requests.files[0].with_name("wrk.log")
    command = [
        executable(),
        "-t",
        "1",
        "-c",
        str(concurrency),
        "-d",
        f"{seconds}s",
        "--timeout",
        f"{REQUEST_TIMEOUT_S:.0f}s",
    ]
    command += ["-s", str(SCRIPT), requests.url, "--", *map(str, requests.files)]
    output: list[tuple[Any, ...]] = [
        (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    report.unlink(missing_ok=True)
    pid = os.posix_spawn(command[0], command, {**os.environ, "WRK_REPORT": str(report)}, file_actions=output)
    _, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0 or not report.exists():
        sys.exit(f"wrk against {requests.url} failed ({status=}):\n{log.read_text()[-2000:]}")
    return parse_report(json.loads(report.read_text()), usage.ru_utime + usage.ru_stime)


def parse_report(report: dict[str, Any], cpu_s: float) -> WrkRun:
    """The script's JSON as a WrkRun; wrk's quantiles are 0 where it recorded no answer at all."""
    answered = report["requests"] > 0
    return WrkRun(
        requests=report["requests"],
        duration_s=report["duration_us"] / 1e6,
        statuses=report["statuses"],
        socket_errors=report["socket_errors"],
        latency_ms={f"{q}_ms": round(us / 1000.0, 2) if answered else None for q, us in report["latency_us"].items()},
        cpu_s=cpu_s,
    )
