"""A store that cannot be reached, or cannot write: /readyz says so (503), requests get 503 with Retry-After,
never a 500 and never a 201 that was not stored; when the store answers and writes again, so does the service,
without a restart.

A full disk and a read-only file are SQLite's own errors here, made on the store's connection: a file held at
its ``max_page_count`` fails a write that needs a new page with SQLITE_FULL ("database or disk is full"), the
code SQLite gives for ENOSPC; ``query_only`` fails every write with SQLITE_READONLY, as a read-only file does.
"""

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from camserve.models.runtimes.torch import TorchPredictor
from camserve.service.app import create_app
from camserve.service.settings import Settings
from camserve.service.stores import NewResult, StoreUnavailable
from camserve.service.stores.sqlite import SqliteStore
from tests.support.polling import wait_for
from tests.support.servers import post, wait_until_ready

UNREACHABLE = "postgresql://camserve:hunter2@127.0.0.1:1/camserve"


def test_an_unreachable_database_makes_the_service_unready_not_broken(
    red_patch_predictor: TorchPredictor, chelsea_bytes: bytes
) -> None:
    with TestClient(create_app(Settings(store_url=UNREACHABLE), red_patch_predictor)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        storage = ready.json()["storage"]
        assert storage["store"] == "postgresql" and storage["reachable"] is False
        assert "hunter2" not in ready.text
        assert client.get("/healthz").status_code == 200  # alive: restarting it would not help
        posted = client.post("/predictions", files={"file": ("c.png", chelsea_bytes, "image/png")})
        assert posted.status_code == 503
        assert posted.headers["Retry-After"].isdigit()
        assert "nothing was stored" in posted.json()["detail"]
        for path in ("/predictions/abc", "/predictions/abc/overlay.png", "/predictions/abc/maps"):
            response = client.get(path)
            assert (response.status_code, response.headers.get("Retry-After")) == (503, "2"), path
        assert client.delete("/predictions/abc").status_code == 503
        unstored = client.post("/predictions?store=false", files={"file": ("c.png", chelsea_bytes, "image/png")})
        assert unstored.status_code == 200  # keeping nothing needs no store


def test_a_write_that_fails_is_503_and_the_service_recovers(
    tmp_path: Path, red_patch_predictor: TorchPredictor, chelsea_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    with TestClient(create_app(Settings(store_path=tmp_path / "s.sqlite3"), red_patch_predictor)) as client:
        store = client.app.state.camserve.store  # type: ignore[attr-defined]
        working_put_many, working_check = store.put_many, store.check

        def failing(*_args: Sequence[NewResult]) -> None:
            raise StoreUnavailable("the disk went away")

        monkeypatch.setattr(store, "put_many", failing)
        monkeypatch.setattr(store, "check", failing)
        posted = client.post("/predictions", files={"file": ("c.png", chelsea_bytes, "image/png")})
        assert posted.status_code == 503 and "Retry-After" in posted.headers
        assert client.get("/readyz").json()["storage"]["problem"] == "the disk went away"
        assert store.count() == 0

        monkeypatch.setattr(store, "put_many", working_put_many)
        monkeypatch.setattr(store, "check", working_check)
        assert client.get("/readyz").status_code == 200
        posted = client.post("/predictions", files={"file": ("c.png", chelsea_bytes, "image/png")})
        assert posted.status_code == 201
        assert client.get(posted.headers["Location"]).status_code == 200


def test_readyz_names_the_embedded_store(client: TestClient) -> None:
    storage = client.get("/readyz").json()["storage"]
    assert (storage["store"], storage["reachable"], storage["problem"]) == ("sqlite", True, None)


@pytest.mark.parametrize(("field", "url"), [("store_url", "mysql://db/camserve"), ("blob_url", "gs://bucket/photos")])
def test_unknown_store_schemes_are_refused_at_start_up(field: str, url: str) -> None:
    with pytest.raises(ValidationError, match="use one of"):
        Settings(**{field: url})


@contextmanager
def sqlite_client(tmp_path: Path, predictor: TorchPredictor) -> Iterator[tuple[TestClient, SqliteStore]]:
    with TestClient(create_app(Settings(store_path=tmp_path / "s.sqlite3"), predictor)) as client:
        wait_until_ready(client)
        store = client.app.state.camserve.store  # type: ignore[attr-defined]
        assert isinstance(store, SqliteStore)
        yield client, store


def on_the_stores_connection(store: SqliteStore, sql: str) -> None:
    """Pragmas hold per connection: these must reach the store's own."""
    with store._lock:
        store._db.execute(sql)


def readiness(client: TestClient) -> httpx.Response:
    return client.get("/readyz")


def test_a_full_disk_makes_the_service_unready_until_it_can_write_again(
    tmp_path: Path, red_patch_predictor: TorchPredictor, chelsea_bytes: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.INFO, logger="camserve"),
        sqlite_client(tmp_path, red_patch_predictor) as (client, store),
    ):
        kept = post(client, chelsea_bytes, "c.png")
        assert kept.status_code == 201
        with store._lock:
            pages = store._db.execute("PRAGMA page_count").fetchone()[0]
        on_the_stores_connection(store, f"PRAGMA max_page_count = {pages}")

        refused = post(client, chelsea_bytes, "c.png")
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "2"
        ready = readiness(client)  # at once: the failed write is known without waiting for a probe
        assert ready.status_code == 503 and ready.json()["ready"] is False
        storage = ready.json()["storage"]
        assert (storage["reachable"], storage["writable"]) == (True, False)
        assert storage["problem"].startswith("the store cannot write (since ")
        assert "database or disk is full" in storage["problem"]
        assert "the store cannot write" in caplog.text
        assert client.get(kept.headers["Location"]).status_code == 200  # reads go on

        # A tiny write would still fit in the file's pages; the probe writes as much as the upload that failed.
        store.write_probe_interval_s = 0.0
        assert readiness(client).status_code == 503
        del store.write_probe_interval_s

        on_the_stores_connection(store, f"PRAGMA max_page_count = {2**30}")  # space freed
        assert wait_for(lambda: readiness(client).status_code == 200, timeout_s=10)
        assert readiness(client).json()["storage"] | {"keeps_photos": None, "retention_s": None} == {
            "store": "sqlite",
            "reachable": True,
            "writable": True,
            "problem": None,
            "keeps_photos": None,
            "retention_s": None,
        }
        assert "the store can write again" in caplog.text
        assert post(client, chelsea_bytes, "c.png").status_code == 201


def test_a_store_turned_read_only_is_unready_before_any_upload_fails(
    tmp_path: Path, red_patch_predictor: TorchPredictor, chelsea_bytes: bytes
) -> None:
    """Readiness writes for real (at most every couple of seconds), so an idle replica finds out by itself."""
    with sqlite_client(tmp_path, red_patch_predictor) as (client, store):
        on_the_stores_connection(store, "PRAGMA query_only = ON")
        assert wait_for(lambda: readiness(client).status_code == 503, timeout_s=10)
        storage = readiness(client).json()["storage"]
        assert (storage["reachable"], storage["writable"]) == (True, False)
        assert "attempt to write a readonly database" in storage["problem"]

        on_the_stores_connection(store, "PRAGMA query_only = OFF")
        assert wait_for(lambda: readiness(client).status_code == 200, timeout_s=10)
        assert post(client, chelsea_bytes, "c.png").status_code == 201
