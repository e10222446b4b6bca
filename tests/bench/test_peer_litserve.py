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
from camserve.models.inference.preprocess import to_model_input
from tests.support.photos import CHELSEA, STORED_FOR_ORIENTATION, encode, exif_with_orientation

peer = pytest.importorskip("bench.peer_litserve", reason="the peer needs LitServe: pip install -e '.[bench]'")


def handler(weights_path: Path, precision: str = "fp32") -> Any:
    """The peer's ``CamAPI``, set up as LitServe's worker sets it up."""
    api = peer.CamAPI(weights_path, precision)
    api.setup("cpu")
    return api


def upload(data: bytes) -> dict[str, UploadFile]:
    """The parsed multipart form LitServe hands ``decode_request``."""
    return {"file": UploadFile(io.BytesIO(data), filename="photo")}


def test_decode_gives_the_input_camserve_gives(tiny_checkpoint: Path, chelsea_bytes: bytes) -> None:
    api = handler(tiny_checkpoint)
    _, metadata = load_checkpoint(tiny_checkpoint)
    with Image.open(CHELSEA) as photo:
        expected = to_model_input(photo.convert("RGB"), metadata)

    pixels = api.decode_request(upload(chelsea_bytes))

    assert pixels.shape == (3, metadata.input_size, metadata.input_size)
    assert np.abs(pixels.numpy() - expected).mean() < 0.05


def test_decode_turns_the_photo_upright(tiny_checkpoint: Path) -> None:
    api = handler(tiny_checkpoint)
    with Image.open(CHELSEA) as photo:
        upright = photo.convert("RGB")
    stored = encode(upright.transpose(STORED_FOR_ORIENTATION[6]), "JPEG", quality=95, exif=exif_with_orientation(6))

    turned, plain = (api.decode_request(upload(data)) for data in (stored, encode(upright, "JPEG", quality=95)))

    assert torch.allclose(turned, plain, atol=0.2)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_batch_answers_label_probabilities_and_maps(
    tiny_checkpoint: Path, chelsea_bytes: bytes, precision: str
) -> None:
    api = handler(tiny_checkpoint, precision)
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
        assert np.asarray(answer["class_maps"]).shape == tuple(maps.shape[1:])
