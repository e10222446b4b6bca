"""A store that cannot be reached: /readyz says so (503), requests get 503 with Retry-After, never a 500 and
never a 201 that was not stored; when the store answers again, so does the service."""

from collections.abc import Sequence
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from camserve.models.runtimes.torch import TorchPredictor
from camserve.service.app import create_app
from camserve.service.settings import Settings
from camserve.service.stores import NewResult, StoreUnavailable

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
