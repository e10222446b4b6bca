"""GET /predictions/{id}/maps: the numbers behind the pictures, agreeing with the overlay they are drawn into."""

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from camserve.models.runtimes.torch import TorchPredictor
from camserve.service.app import create_app
from camserve.service.settings import Settings
from tests.support.photos import CHELSEA, encode, photo_with_patch
from tests.support.servers import post, wait_until_ready


def peak_cell_of_the_heatmap(client: TestClient, links: dict[str, str], maps: dict[str, object]) -> tuple[int, int]:
    """The cell under the brightest pixel of the heatmap PNG (the 'hot' colours rise with the map)."""
    png = client.get(links["heatmap"], params={"colormap": "hot"}).content
    heat = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.int32)
    y, x = np.unravel_index(np.argmax(heat), heat.shape)
    grid = maps["grid"]
    assert isinstance(grid, dict)
    return int(y // grid["cell_height"]), int(x // grid["cell_width"])


def peak_cell_of_the_numbers(maps: dict[str, object]) -> tuple[int, int]:
    cam = np.asarray(maps["cam"])
    row, column = np.unravel_index(np.argmax(cam), cam.shape)
    return int(row), int(column)


@pytest.fixture
def red_patch_client(tmp_path: Path, red_patch_predictor: TorchPredictor) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(store_path=tmp_path / "s.sqlite3"), red_patch_predictor)) as client:
        wait_until_ready(client)
        yield client


@pytest.mark.parametrize(
    ("width", "height", "box"),
    [(600, 300, (450, 75, 525, 112)), (300, 600, (37, 450, 75, 525)), (640, 640, (0, 0, 80, 80))],
)
def test_the_maps_peak_where_the_heatmap_peaks(
    red_patch_client: TestClient, width: int, height: int, box: tuple[int, int, int, int]
) -> None:
    result = post(red_patch_client, encode(photo_with_patch(width, height, box))).json()
    maps = red_patch_client.get(f"{result['links']['self']}/maps").json()
    assert maps["classes"] == ["red", "other"]
    assert maps["grid"]["height"] == maps["grid"]["width"] == 8
    assert maps["grid"]["cell_width"] == width / 8 and maps["grid"]["cell_height"] == height / 8
    assert np.asarray(maps["class_maps"]).shape == (2, 8, 8)
    cam = np.asarray(maps["cam"])
    assert cam.min() == 0.0 and cam.max() == 1.0
    assert peak_cell_of_the_numbers(maps) == peak_cell_of_the_heatmap(red_patch_client, result["links"], maps)
    row, column = peak_cell_of_the_numbers(maps)
    cell_width, cell_height = width / 8, height / 8
    centre_x, centre_y = (column + 0.5) * cell_width, (row + 0.5) * cell_height
    left, top, right, bottom = box  # the peak cell is on the red patch, or next to a patch smaller than a cell
    assert left - cell_width < centre_x < right + cell_width
    assert top - cell_height < centre_y < bottom + cell_height


def test_the_shipped_model_on_the_committed_cat(client: TestClient) -> None:
    result = post(client, CHELSEA.read_bytes()).json()
    maps = client.get(f"{result['links']['self']}/maps").json()
    assert maps["classes"] == ["cat", "dog"]
    assert np.asarray(maps["class_maps"]).shape == (2, maps["grid"]["height"], maps["grid"]["width"])
    assert peak_cell_of_the_numbers(maps) == peak_cell_of_the_heatmap(client, result["links"], maps)


def test_unknown_and_deleted_results_have_no_maps(client: TestClient) -> None:
    assert client.get("/predictions/nope/maps").status_code == 404
    links = post(client, CHELSEA.read_bytes()).json()["links"]
    assert client.get(f"{links['self']}/maps").status_code == 200
    assert client.delete(links["self"]).status_code == 204
    assert client.get(f"{links['self']}/maps").status_code == 404


def test_the_maps_are_in_the_openapi_schema(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "/predictions/{prediction_id}/maps" in schema["paths"]
    assert {"classes", "class_maps", "cam", "grid"} <= set(schema["components"]["schemas"]["ClassMaps"]["properties"])
