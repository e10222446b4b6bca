"""Starting and finding a server: settings from KEY=VALUE, a fast failure with the server's own words, its
process found by its port and its CPU counted with its children's, waiting until it is idle, and pausing it."""

import argparse
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from bench.lib.server import (
    SETTLE_WINDOW_S,
    cpu_seconds,
    free_port,
    parse_env,
    paused,
    server_process,
    settle,
    wait_until_ready,
)


def test_env_pairs_become_overrides_and_values_may_hold_equals_signs() -> None:
    assert parse_env(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}


@pytest.mark.parametrize("pair", ["NOEQUALS", "=value"])
def test_env_pairs_without_a_key_are_refused_by_name(pair: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=repr(pair)):
        parse_env([pair])


def test_a_server_that_exits_fails_the_wait_with_its_log(tmp_path: Path) -> None:
    log_path = tmp_path / "serve.log"
    with (
        log_path.open("wb") as log,
        subprocess.Popen([sys.executable, "-c", "print('no model here'); raise SystemExit(3)"], stdout=log) as server,
        httpx.Client(base_url=f"http://127.0.0.1:{free_port()}") as client,
        pytest.raises(SystemExit, match=r"(?s)exited with 3:.*no model here"),
    ):
        wait_until_ready(client, server, log_path)


def test_a_server_that_never_answers_fails_the_wait_after_its_timeout(tmp_path: Path) -> None:
    log_path = tmp_path / "serve.log"
    log_path.write_text("still loading\n")
    with (
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as server,
        httpx.Client(base_url=f"http://127.0.0.1:{free_port()}") as client,
    ):
        try:
            with pytest.raises(SystemExit, match=r"(?s)not ready after 1s:.*still loading"):
                wait_until_ready(client, server, log_path, timeout_s=1.0)
        finally:
            server.kill()


def test_the_server_process_is_the_child_with_the_clients_port() -> None:
    port = free_port()
    command = [sys.executable, "-c", "import time; time.sleep(30)", "--port", str(port)]
    with subprocess.Popen(command) as child, httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        try:
            found = server_process(client)
            assert found.pid == child.pid
            assert cpu_seconds(found) >= 0.0
        finally:
            child.kill()


def test_cpu_seconds_count_the_children_too() -> None:
    busy = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\ntime.sleep(30)"
    with subprocess.Popen([sys.executable, "-c", busy]) as child:
        try:
            busy_child = psutil.Process(child.pid)
            while sum(busy_child.cpu_times()[:2]) < 0.3:
                time.sleep(0.05)
            own = sum(psutil.Process().cpu_times()[:2])  # read first: this process's time only grows meanwhile
            assert cpu_seconds(psutil.Process()) - own >= 0.3
        finally:
            child.kill()


BUSY_THEN_IDLE = "import time\nend = time.monotonic() + 0.6\nwhile time.monotonic() < end: pass\ntime.sleep(30)"


def test_settling_waits_while_the_server_works_then_not_at_all() -> None:
    """A process that computes for 0.6 s (a server answering a finished run's leftovers) is waited for; once it
    is idle, settling costs one window."""
    with subprocess.Popen([sys.executable, "-c", BUSY_THEN_IDLE]) as busy:
        try:
            server = psutil.Process(busy.pid)
            assert settle(server) >= 0.4
            assert settle(server) <= 2 * SETTLE_WINDOW_S
        finally:
            busy.kill()


SPIN_IN_A_CHILD = (
    "import multiprocessing, time\n"
    "def spin():\n"
    "    while True: pass\n"
    "if __name__ == '__main__':\n"
    "    multiprocessing.Process(target=spin, daemon=True).start()\n"
    "    time.sleep(30)\n"
)


def test_a_paused_server_and_its_children_spend_no_cpu_until_the_block_ends() -> None:
    """A server waiting its turn is stopped, children too (LitServe works in child processes), and goes on after."""
    with subprocess.Popen([sys.executable, "-c", SPIN_IN_A_CHILD]) as server:
        try:
            process = psutil.Process(server.pid)
            while not process.children():
                time.sleep(0.05)
            with paused([process]):
                before = cpu_seconds(process)
                time.sleep(0.3)
                assert cpu_seconds(process) - before < 0.02
                assert {child.status() for child in process.children()} == {psutil.STATUS_STOPPED}
            before = cpu_seconds(process)
            time.sleep(0.3)
            assert cpu_seconds(process) - before > 0.1
        finally:
            for child in psutil.Process(server.pid).children():
                child.kill()
            server.kill()
