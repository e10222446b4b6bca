"""A checkpoint with a dilated last stage (``resnet34-os16``: 9x9 maps at 144 px, 5x5 before) through the API:
every picture and option follows the grid the maps have, and results stored from a 5x5 model still render."""

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from camserve.models.checkpoint import load_checkpoint
from camserve.models.runtimes.torch import TorchPredictor
from camserve.service.app import create_app
from camserve.service.settings import Settings
from tests.support.networks import write_tiny_checkpoint
from tests.support.photos import CHELSEA
from tests.support.servers import post, wait_until_ready


@pytest.fixture(scope="module")
def os16_predictor(tmp_path_factory: pytest.TempPathFactory) -> TorchPredictor:
    path = write_tiny_checkpoint(
        tmp_path_factory.mktemp("os16") / "os16.safetensors", input_size=144, architecture="resnet34-os16"
    )
    network, metadata = load_checkpoint(path)
    return TorchPredictor(network, metadata, torch.device("cpu"), "fp32")


def serving(store: Path, predictor: TorchPredictor) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(store_path=store), predictor)) as client:
        wait_until_ready(client)
        yield client


def png_size(client: TestClient, link: str, **params: str) -> tuple[int, int]:
    response = client.get(link, params=params)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    return Image.open(io.BytesIO(response.content)).size


def test_every_picture_and_option_follows_the_finer_grid(tmp_path: Path, os16_predictor: TorchPredictor) -> None:
    photo = Image.open(CHELSEA)
    for client in serving(tmp_path / "s.sqlite3", os16_predictor):
        for query in ("", "?tta=true", "?zoom=true", "?tta=true&zoom=true"):
            response = client.post(f"/predictions{query}", files={"file": ("c.png", CHELSEA.read_bytes())})
            assert response.status_code == 201, response.text
            links = response.json()["links"]
            maps = client.get(f"{links['self']}/maps").json()
            assert maps["grid"]["height"] == maps["grid"]["width"] == 9
            assert maps["grid"]["cell_width"] == photo.width / 9
            assert np.asarray(maps["class_maps"]).shape == (2, 9, 9)
            assert np.asarray(maps["cam"]).shape == (9, 9)
            for name in ("overlay", "heatmap"):
                assert png_size(client, links[name]) == photo.size
                assert png_size(client, links[name], **{"class": "dog"}) == photo.size


def test_a_result_stored_by_a_5x5_model_still_renders(
    tmp_path: Path, served_predictor: TorchPredictor, os16_predictor: TorchPredictor
) -> None:
    store = tmp_path / "s.sqlite3"
    for client in serving(store, served_predictor):
        old = post(client, CHELSEA.read_bytes()).json()["links"]
    for client in serving(store, os16_predictor):
        assert client.get(f"{old['self']}/maps").json()["grid"]["width"] == 5
        assert png_size(client, old["overlay"]) == png_size(client, old["heatmap"], **{"class": "cat"})
        new = post(client, CHELSEA.read_bytes()).json()["links"]
        assert client.get(f"{new['self']}/maps").json()["grid"]["width"] == 9
