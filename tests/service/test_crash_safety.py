"""A SIGKILL mid-traffic loses nothing that was answered 201: the store's promise, checked on a real process.

The store writes with WAL and ``synchronous=FULL`` before the response goes out, so every id a client was
given must survive ``kill -9`` and a restart on the same file, byte for byte, with a database SQLite still
calls sound.
"""

import itertools
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.photos import PNG_SIGNATURE, small_photo
from tests.support.servers import CamserveProcess, camserve_process

WORKERS = 4  # enough concurrent uploads that some are always in flight when the kill lands
STREAM_S = 1.5
MIN_ANSWERED = 10
STREAM_DEADLINE_S = 15.0  # a loaded 2-core machine answers ~5/s per worker; far longer means it is stuck
REQUEST_TIMEOUT_S = 10.0


@dataclass
class Stream:
    """Uploads from several threads until stopped; keeps what was answered 201 and what went wrong when."""

    base: str
    killed: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    answered: dict[str, dict[str, Any]] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    errors_before_kill: list[str] = field(default_factory=list)
    in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _numbers: Iterator[int] = field(default_factory=itertools.count)

    def worker(self) -> None:
        with httpx.Client(base_url=self.base, timeout=REQUEST_TIMEOUT_S) as client:
            while not self.stop.is_set():
                with self._lock:
                    upload = small_photo(next(self._numbers))
                    self.in_flight += 1
                try:
                    response = client.post("/predictions", files={"file": upload})
                except httpx.TransportError as error:
                    if not self.killed.is_set():
                        self.errors_before_kill.append(repr(error))
                    continue  # after the kill, refused and reset connections are the expected outcome
                finally:
                    with self._lock:
                        self.in_flight -= 1
                with self._lock:
                    self.statuses[response.status_code] += 1
                    if response.status_code == 201:
                        body = response.json()
                        self.answered[body["id"]] = body

    def count(self) -> tuple[int, int]:
        with self._lock:
            return len(self.answered), self.in_flight


def stream_then_kill(server: CamserveProcess) -> tuple[Stream, int]:
    """Stream uploads for STREAM_S (and at least MIN_ANSWERED answers), SIGKILL the server with requests in
    flight, then stop; returns the stream and how many requests were in flight at the kill."""
    stream = Stream(server.base)
    with ThreadPoolExecutor(WORKERS) as pool:
        futures = [pool.submit(stream.worker) for _ in range(WORKERS)]
        try:
            started = time.monotonic()
            while True:
                answered, in_flight = stream.count()
                elapsed = time.monotonic() - started
                if elapsed >= STREAM_S and answered >= MIN_ANSWERED and in_flight > 0:
                    break
                assert elapsed < STREAM_DEADLINE_S, f"only {answered} answered in {elapsed:.1f}s"
                time.sleep(0.02)
            stream.killed.set()  # before the kill, so no error it causes is counted as an early one
            server.process.kill()
            server.process.wait(timeout=10)
        finally:
            stream.stop.set()
        for future in futures:
            future.result()
    return stream, in_flight


def test_answered_predictions_survive_sigkill(tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite3"
    with camserve_process(store) as server:
        stream, in_flight_at_kill = stream_then_kill(server)

    assert stream.errors_before_kill == []
    assert set(stream.statuses) == {201}, stream.statuses
    assert len(stream.answered) >= MIN_ANSWERED
    assert in_flight_at_kill > 0

    with camserve_process(store) as server, httpx.Client(base_url=server.base, timeout=REQUEST_TIMEOUT_S) as client:
        for prediction_id, body in stream.answered.items():
            served = client.get(f"/predictions/{prediction_id}")
            assert served.status_code == 200, prediction_id
            assert served.json() == body
            overlay = client.get(f"/predictions/{prediction_id}/overlay.png")
            assert overlay.status_code == 200, prediction_id
            assert overlay.headers["content-type"] == "image/png"
            assert overlay.content.startswith(PNG_SIGNATURE)

    with closing(sqlite3.connect(store)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_sigkill_among_deletes_leaves_each_result_whole_or_gone(tmp_path: Path) -> None:
    """Deletes racing a kill -9: after the restart every result is either fully there (JSON and picture) or
    fully gone, every delete answered 204 stayed done, and SQLite finds the file sound."""
    store = tmp_path / "store.sqlite3"
    with camserve_process(store) as server, httpx.Client(base_url=server.base, timeout=REQUEST_TIMEOUT_S) as client:
        ids = [client.post("/predictions", files={"file": small_photo(n)}).json()["id"] for n in range(24)]
        deleted: list[str] = []

        def delete_all() -> None:
            with httpx.Client(base_url=server.base, timeout=REQUEST_TIMEOUT_S) as deleter:
                for prediction_id in ids:
                    try:
                        if deleter.delete(f"/predictions/{prediction_id}").status_code == 204:
                            deleted.append(prediction_id)
                    except httpx.TransportError:
                        return  # the kill

        deleting = threading.Thread(target=delete_all)
        deleting.start()
        while len(deleted) < 3:
            time.sleep(0.005)
        server.process.kill()
        server.process.wait(timeout=10)
        deleting.join(timeout=30)
    assert 3 <= len(deleted) < len(ids)

    with camserve_process(store) as server, httpx.Client(base_url=server.base, timeout=REQUEST_TIMEOUT_S) as client:
        for prediction_id in ids:
            result = client.get(f"/predictions/{prediction_id}").status_code
            overlay = client.get(f"/predictions/{prediction_id}/overlay.png").status_code
            assert (result, overlay) in {(200, 200), (404, 404)}, prediction_id
            if prediction_id in deleted:
                assert result == 404, prediction_id
    with closing(sqlite3.connect(store)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
