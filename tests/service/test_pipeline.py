"""The prediction pipeline without HTTP: its options against the server's settings, and its two outcomes.

The route's tests (test_routes_predictions.py) hold the HTTP side; these call ``predict`` on a running app's
state, on its own event loop, so the batcher and the group commit are the real ones.
"""

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from camserve.models.inference.decode import PhotoTooLarge
from camserve.models.runtimes.torch import TorchPredictor
from camserve.service.app import create_app
from camserve.service.pictures import UnknownClass
from camserve.service.pipeline import OptionRefused, PredictionOptions, PredictionOutcome, predict
from camserve.service.render import Colormap
from camserve.service.schemas import PredictionResult, UnstoredResult
from camserve.service.settings import Settings
from camserve.service.state import AppState
from tests.support.photos import encode
from tests.support.servers import wait_until_ready

RED = encode(Image.new("RGB", (80, 60), (250, 0, 0)))


class Upload:
    """An upload that records how much of it was asked for."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.asked: list[int] = []

    async def read(self, size: int = -1) -> bytes:
        self.asked.append(size)
        return self.data if size < 0 else self.data[:size]


@pytest.fixture
def app_client(
    tmp_path: Path, red_patch_predictor: TorchPredictor, request: pytest.FixtureRequest
) -> Iterator[TestClient]:
    """The app on the red-patch model; ``indirect`` parametrisation sets its settings."""
    settings = Settings(store_path=tmp_path / "store.sqlite3", **getattr(request, "param", {}))
    with TestClient(create_app(settings, red_patch_predictor)) as client:
        wait_until_ready(client)
        yield client


def state_of(client: TestClient) -> AppState:
    state: AppState = client.app.state.camserve  # type: ignore[attr-defined]
    return state


def run(client: TestClient, options: PredictionOptions, upload: Upload) -> PredictionOutcome:
    """``predict`` on the app's own event loop, where its batcher runs."""
    return client.portal.call(predict, state_of(client), options, upload)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("asked", "setting", "expected"),
    [(None, False, False), (None, True, True), (True, False, True), (False, True, False)],
)
def test_an_option_left_out_is_the_servers_setting(asked: bool | None, setting: bool, expected: bool) -> None:
    settings = Settings(store_photos=setting, tta=setting, zoom=setting)
    options = PredictionOptions(store=asked, tta=asked, zoom=asked)
    assert options.keeps(settings) is options.mirrors(settings) is options.zooms(settings) is expected


def test_the_defaults_are_the_querys_defaults() -> None:
    """The route fills every field; the defaults here must say what a bare POST asks for."""
    options = PredictionOptions()
    assert (options.alpha, options.colormap, options.class_name, options.box) == (0.5, Colormap.jet, None, False)
    assert (options.store, options.tta, options.zoom, options.model) == (None, None, None, None)


def test_a_kept_result_is_the_stored_one(app_client: TestClient) -> None:
    state = state_of(app_client)
    outcome = run(app_client, PredictionOptions(), Upload(RED))
    assert isinstance(outcome, PredictionResult)
    assert outcome.label == "red"
    assert (outcome.width, outcome.height) == (80, 60)
    assert outcome.links.self == f"/predictions/{outcome.id}"
    assert outcome.timings.total_ms >= outcome.timings.decode_ms + outcome.timings.inference_ms
    assert outcome.timings.zoom_ms == 0.0 and not outcome.zoom.requested
    assert state.store.get_result(outcome.id) == outcome  # read back as the model, not a dict
    stored = state.store.get(outcome.id)
    assert stored is not None and stored.photo == RED and stored.result == outcome


def test_a_result_not_kept_carries_its_overlay_and_leaves_nothing(app_client: TestClient) -> None:
    state = state_of(app_client)
    outcome = run(app_client, PredictionOptions(store=False, alpha=0.0), Upload(RED))
    assert isinstance(outcome, UnstoredResult)
    overlay = Image.open(io.BytesIO(base64.b64decode(outcome.overlay_png)))
    assert overlay.size == (80, 60)
    assert overlay.convert("RGB").getpixel((40, 30)) == (250, 0, 0)  # alpha 0: the photo itself
    assert state.store.count() == 0


@pytest.mark.parametrize("app_client", [{"zoom": True}], indirect=True)
def test_zoom_follows_the_setting_unless_asked_otherwise(app_client: TestClient) -> None:
    assert run(app_client, PredictionOptions(), Upload(RED)).zoom.requested
    assert not run(app_client, PredictionOptions(zoom=False), Upload(RED)).zoom.requested


@pytest.mark.parametrize(
    ("app_client", "options", "refusal"),
    [
        ({"store_photos": False}, PredictionOptions(store=True), OptionRefused),
        ({}, PredictionOptions(class_name="dog"), UnknownClass),
    ],
    indirect=["app_client"],
)
def test_options_are_refused_before_the_upload_is_read(
    app_client: TestClient, options: PredictionOptions, refusal: type[Exception]
) -> None:
    upload = Upload(RED)
    with pytest.raises(refusal):
        run(app_client, options, upload)
    assert upload.asked == []


@pytest.mark.parametrize("app_client", [{"max_upload_bytes": 1024}], indirect=True)
def test_an_upload_past_the_limit_is_refused_after_reading_one_byte_more(app_client: TestClient) -> None:
    upload = Upload(b"\x00" * 5000)
    with pytest.raises(PhotoTooLarge, match="larger than the limit of 1,024 bytes"):
        run(app_client, PredictionOptions(), upload)
    assert upload.asked == [1025]
    assert state_of(app_client).store.count() == 0


LARGE_RED = encode(Image.new("RGB", (600, 600), (250, 0, 0)), "JPEG")  # its overlay needs about 4 MiB


@pytest.mark.parametrize("app_client", [{"memory_budget_bytes": 1024 * 1024}], indirect=True)
def test_a_picture_larger_than_the_whole_memory_budget_is_refused_as_too_large(app_client: TestClient) -> None:
    """It could never fit this server, so no retry would help: 413, whether drawn for a POST or a GET. The
    model's decode (a reduced-size JPEG decode) still fits, so the result can be kept and read."""
    drawn = app_client.post("/predictions", params={"store": "false"}, files={"file": ("p.jpg", LARGE_RED)})
    assert drawn.status_code == 413
    assert "memory budget" in drawn.json()["detail"]
    kept = app_client.post("/predictions", files={"file": ("p.jpg", LARGE_RED)})
    assert kept.status_code == 201
    assert app_client.get(kept.json()["links"]["overlay"]).status_code == 413
    assert state_of(app_client).memory.reserved == 0


@pytest.mark.parametrize("app_client", [{"memory_wait_s": 0.05}], indirect=True)
def test_a_full_memory_budget_answers_503_with_retry_after_until_it_has_room(app_client: TestClient) -> None:
    kept = app_client.post("/predictions", files={"file": ("p.png", RED)})
    assert kept.status_code == 201
    budget = state_of(app_client).memory
    budget.reserved = budget.capacity  # as if large photos held all of it
    for response in (
        app_client.post("/predictions", files={"file": ("p.png", RED)}),
        app_client.get(kept.json()["links"]["overlay"]),
    ):
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert "memory" in response.json()["detail"]
    budget.reserved = 0
    assert app_client.get(kept.json()["links"]["overlay"]).status_code == 200
    assert app_client.get("/metrics").text.count('camserve_memory_wait_seconds_count{outcome="timed_out"} 2.0') == 1
