"""The LitServe peer's handler (bench/peer_litserve.py), without a server: what it decodes and what it answers."""

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from starlette.datastructures import UploadFile

from camserve.models.checkpoint import load_checkpoint
from camserve.models.inference.cam import normalise, weighted_cam
from camserve.models.inference.preprocess import to_model_input
from camserve.models.metadata import SHIPPED_WEIGHTS
from camserve.models.runtimes import RuntimeRequest, load_predictor
from camserve.models.runtimes.openvino import gated_int8
from tests.support.photos import CHELSEA, STORED_FOR_ORIENTATION, encode, exif_with_orientation

peer = pytest.importorskip("bench.peer_litserve", reason="the peer needs LitServe: pip install -e '.[bench]'")


def torch_handler(weights_path: Path, precision: str = "fp32") -> Any:
    """The peer's ``CamAPI``, set up as LitServe's worker sets it up."""
    api = peer.CamAPI(weights_path, precision)
    api.setup("cpu")
    return api


def upload(data: bytes) -> dict[str, UploadFile]:
    """The parsed multipart form LitServe hands ``decode_request``."""
    return {"file": UploadFile(io.BytesIO(data), filename="photo")}


def test_decode_gives_the_input_camserve_gives(tiny_checkpoint: Path, chelsea_bytes: bytes) -> None:
    api = torch_handler(tiny_checkpoint)
    _, metadata = load_checkpoint(tiny_checkpoint)
    with Image.open(CHELSEA) as photo:
        expected = to_model_input(photo.convert("RGB"), metadata)

    pixels = api.decode_request(upload(chelsea_bytes))

    assert pixels.shape == (3, metadata.input_size, metadata.input_size)
    assert np.abs(pixels.numpy() - expected).mean() < 0.05


def test_decode_turns_the_photo_upright(tiny_checkpoint: Path) -> None:
    api = torch_handler(tiny_checkpoint)
    with Image.open(CHELSEA) as photo:
        upright = photo.convert("RGB")
    stored = encode(upright.transpose(STORED_FOR_ORIENTATION[6]), "JPEG", quality=95, exif=exif_with_orientation(6))

    turned, plain = (api.decode_request(upload(data)) for data in (stored, encode(upright, "JPEG", quality=95)))

    assert torch.allclose(turned, plain, atol=0.2)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_batch_answers_label_probabilities_and_cam(tiny_checkpoint: Path, chelsea_bytes: bytes, precision: str) -> None:
    api = torch_handler(tiny_checkpoint, precision)
    network, metadata = load_checkpoint(tiny_checkpoint)
    batch = torch.stack([api.decode_request(upload(chelsea_bytes)) for _ in range(3)])
    with torch.inference_mode():
        _, maps = network.forward_with_maps(batch)

    answers = [api.encode_response(output) for output in api.predict(batch)]

    assert len(answers) == 3
    for answer in answers:
        assert answer["label"] in metadata.class_names
        assert list(answer["probabilities"]) == list(metadata.class_names)
        assert sum(answer["probabilities"].values()) == pytest.approx(1.0, abs=1e-2)  # bf16: 3 significant digits
        assert max(answer["probabilities"], key=answer["probabilities"].get) == answer["label"]
        cam = np.asarray(answer["cam"])
        assert cam.shape == tuple(maps.shape[2:])
        assert cam.min() >= 0.0 and cam.max() <= 1.0


@pytest.fixture(scope="module")
def int8_handler() -> Any:
    """The peer's ``OpenVinoInt8CamAPI`` on the shipped weights, set up once for the module."""
    try:
        gated_int8(SHIPPED_WEIGHTS)
    except RuntimeError as error:
        pytest.skip(f"no gated int8 graph to serve: {error}")
    api = peer.OpenVinoInt8CamAPI(SHIPPED_WEIGHTS)
    api.setup("cpu")
    return api


def test_int8_answers_as_camserve_int8_does(int8_handler: Any, chelsea_bytes: bytes) -> None:
    camserve = load_predictor("openvino", RuntimeRequest(SHIPPED_WEIGHTS, device="cpu", precision="int8"))
    with Image.open(CHELSEA) as photo:
        (expected,) = camserve.predict(to_model_input(photo.convert("RGB"), camserve.metadata)[None])
    names = camserve.metadata.class_names
    batch = int8_handler.batch([int8_handler.decode_request(upload(chelsea_bytes)) for _ in range(2)])

    answers = [int8_handler.encode_response(output) for output in int8_handler.predict(batch)]

    assert len(answers) == 2
    for answer in answers:
        assert answer["label"] == names[expected.label_index()]
        assert list(answer["probabilities"].values()) == pytest.approx(expected.probabilities.tolist(), abs=1e-3)
        reference = normalise(weighted_cam(expected.class_maps, expected.probabilities))
        assert np.abs(np.asarray(answer["cam"]) - reference).max() < 1e-2
