"""Processes of the cluster: started detached with their PID recorded, waited on until they answer, and stopped
by that PID alone, never by name.

psutil reads a recorded PID's state, command line and environment (so a PID reused by another program is left
alone) and signals it; mirakuru, which pytest-postgresql uses, does not fit: its executors kill what they
started when the Python process that started them exits, and ``up`` must return leaving the cluster running
for ``down``, a later process.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict

import psutil

STOP_TIMEOUT_S = 30
POLL_S = 0.2
LOG_TAIL_LINES = 40


class ClusterError(Exception):
    """A step that failed: what, and the log that says why."""

    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message)
        self.log = log

    def report(self) -> str:
        lines = [f"cluster: FAILED: {self}"]
        if self.log is not None and self.log.is_file() and self.log.stat().st_size:
            lines.append(f"cluster: last lines of {self.log}:")
            lines += self.log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        return "\n".join(lines)


def say(message: str) -> None:
    print(f"cluster: {message}", flush=True)


def warn(message: str) -> None:
    print(f"cluster: {message}", file=sys.stderr, flush=True)


def ready_timeout_s() -> float:
    return float(os.environ.get("READY_TIMEOUT_S", "180"))


def start(
    command: list[str], log: Path, pid_file: Path, env: dict[str, str], user: str | None = None
) -> subprocess.Popen[bytes]:
    """``command`` in a session of its own (so it outlives this process and a terminal's Ctrl-C), its output
    appended to ``log``, its PID written to ``pid_file``."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            **_as_user(user),
        )
    pid_file.write_text(f"{process.pid}\n")
    return process


def run(what: str, command: list[str], log: Path, user: str | None = None) -> None:
    """A program that must succeed, its output appended to ``log``."""
    with log.open("ab") as output:
        done = subprocess.run(
            command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, check=False, **_as_user(user)
        )
    if done.returncode != 0:
        raise ClusterError(what, log)


class _UserArguments(TypedDict, total=False):
    user: str
    group: str
    extra_groups: list[str]
    cwd: str


def _as_user(user: str | None) -> _UserArguments:
    """Popen's arguments to run as ``user`` (None: as this process), from /, which that user can enter."""
    if user is None:
        return {}
    return {"user": user, "group": user, "extra_groups": [], "cwd": "/"}


def wait_until(what: str, process: subprocess.Popen[bytes], log: Path, answers: Callable[[], bool]) -> None:
    """Until ``answers()``; a ClusterError with ``log`` if the process ends first or time runs out."""
    timeout_s = ready_timeout_s()
    deadline = time.monotonic() + timeout_s
    while not answers():
        if process.poll() is not None:
            raise ClusterError(f"{what} exited", log)
        if time.monotonic() > deadline:
            raise ClusterError(f"{what} did not answer within {timeout_s:g} s", log)
        time.sleep(POLL_S)


def _running(process: psutil.Process) -> bool:
    """Running: a zombie has ended, though nobody has collected it yet."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def owned(pid: int | None, cluster_dir: Path) -> psutil.Process | None:
    """The process ``pid`` if it runs and was started for this cluster: its command line or environment names
    the cluster dir. Anything else (ended, or the PID reused) is None."""
    if pid is None:
        return None
    try:
        process = psutil.Process(pid)
        marks = [*process.cmdline(), *process.environ().values()]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    if not _running(process) or not any(str(cluster_dir) in mark for mark in marks):
        return None
    return process


def stop(name: str, process: psutil.Process, signal_number: int = signal.SIGTERM) -> None:
    """``signal_number`` to the process, then SIGKILL if it outlives STOP_TIMEOUT_S; returns once it has ended."""
    try:
        process.send_signal(signal_number)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while _running(process) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _running(process):
            sent = signal.Signals(signal_number).name
            warn(f"{name} (PID {process.pid}) outlived {sent} by {STOP_TIMEOUT_S} s: SIGKILL")
            process.kill()
            while _running(process):
                time.sleep(0.1)
    except psutil.NoSuchProcess:
        return


def recorded_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def stop_recorded(name: str, pid_file: Path, cluster_dir: Path, signal_number: int = signal.SIGTERM) -> None:
    """The process ``pid_file`` names, if it is still this cluster's; the PID file goes either way."""
    process = owned(recorded_pid(pid_file), cluster_dir)
    if process is not None:
        stop(name, process, signal_number)
    pid_file.unlink(missing_ok=True)
