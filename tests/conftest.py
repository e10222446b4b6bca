"""Shared fixtures: the committed checkpoint, a tiny hand-built CAM model, apps and clients over temp stores,
and ``camserve serve`` as a real process."""

import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import hypothesis
import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image
from torch import nn

from models.checkpoint import load_checkpoint, save_checkpoint
from models.metadata import ModelMetadata
from models.network import CamNetwork, build_network
from models.onnx_backend import OnnxPredictor, load_onnx_predictor
from models.predictor import Predictor
from service.app import create_app
from service.settings import DEFAULT_WEIGHTS, Settings

# CI must be reproducible: there hypothesis draws the same examples every run; locally it explores.
hypothesis.settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") == "true":
    hypothesis.settings.load_profile("ci")

TESTS = Path(__file__).resolve().parent


@pytest.fixture(autouse=True, scope="session")
def onnx_exports_in_a_temporary_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the run's ONNX exports out of the checkout's var/onnx; served processes inherit the variable."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CAMSERVE_ONNX_CACHE_DIR", str(tmp_path_factory.mktemp("onnx-cache")))
        yield


CHELSEA = TESTS / "chelsea.png"
SHARED_DATA = TESTS.parent.parent / "shared" / "data"

TINY_INPUT = 64
TINY_CELL = 8  # the tiny model's map has one cell per 8x8 input pixels: 8 x 8 cells


@pytest.fixture(scope="session")
def chelsea_bytes() -> bytes:
    return CHELSEA.read_bytes()


@pytest.fixture(scope="session")
def served_predictor() -> Predictor:
    """The committed checkpoint on CPU fp32, loaded once for the whole run."""
    model, metadata = load_checkpoint(DEFAULT_WEIGHTS)
    return Predictor(model, metadata, torch.device("cpu"), "fp32")


@pytest.fixture(scope="session")
def served_onnx_predictor(tmp_path_factory: pytest.TempPathFactory) -> OnnxPredictor:
    """The committed checkpoint exported to ONNX once for the whole run (seconds), run by ONNX Runtime."""
    return load_onnx_predictor(DEFAULT_WEIGHTS, tmp_path_factory.mktemp("onnx"))


def build_red_patch_network() -> CamNetwork:
    """A CAM network whose 'red' class map is high exactly where the input is saturated red.

    body: average-pool each 8x8 block (one map cell per block); class_maps: class 0 ('red') = R - G - B
    at the centre tap of the 3x3 kernel, class 1 ('other') = its negative. Built by hand so tests know
    where the map must peak.
    """
    network = CamNetwork(nn.AvgPool2d(TINY_CELL), body_channels=3, num_classes=2)
    with torch.no_grad():
        network.class_maps.weight.zero_()
        network.class_maps.bias.zero_()
        network.class_maps.weight[0, :, 1, 1] = torch.tensor([4.0, -2.0, -2.0])
        network.class_maps.weight[1, :, 1, 1] = torch.tensor([-4.0, 2.0, 2.0])
    return network.eval()


@pytest.fixture(scope="session")
def red_patch_predictor() -> Predictor:
    metadata = ModelMetadata(
        name="red-patch",
        version="test",
        architecture="resnet34",
        class_names=("red", "other"),
        input_size=TINY_INPUT,
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
        trained=True,
    )
    return Predictor(build_red_patch_network(), metadata, torch.device("cpu"), "fp32")


def encode(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


# PIL transpose that, applied to the upright photo before saving, EXIF orientation N undoes.
STORED_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def exif_with_orientation(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(store_path=tmp_path / "store.sqlite3")


def wait_until_ready(client: TestClient, timeout_s: float = 60.0) -> None:
    """Warm-up runs in the background after start-up; wait for /readyz like a load balancer would."""
    deadline = time.monotonic() + timeout_s
    while client.get("/readyz").status_code != 200:
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not become ready")
        time.sleep(0.02)


@pytest.fixture
def client(settings: Settings, served_predictor: Predictor) -> Iterator[TestClient]:
    """A client of the real app on the committed weights, started and warmed up."""
    with TestClient(create_app(settings, served_predictor)) as test_client:
        wait_until_ready(test_client)
        yield test_client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class CamserveProcess:
    """A running ``camserve serve``: its base URL, and its process for tests that inspect or kill it."""

    base: str
    process: subprocess.Popen[bytes]


@contextmanager
def camserve_process(
    store_path: Path, timeout_s: float = 60.0, env: dict[str, str] | None = None
) -> Iterator[CamserveProcess]:
    """``camserve serve`` as a real process, as the README runs it, once it is ready; ``env`` adds variables.

    Its output goes to a file beside the store, not a pipe: nobody drains a pipe while tests run, and a
    full one would stall the server. The file is appended to, so a restart on the same store keeps both logs.
    """
    port = free_port()
    env = {**os.environ, **(env or {}), "CAMSERVE_STORE_PATH": str(store_path)}
    command = [sys.executable, "-m", "service.cli", "serve", "--port", str(port)]
    log_path = store_path.with_suffix(".log")
    base = f"http://127.0.0.1:{port}"
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                assert process.poll() is None, log_path.read_text(errors="replace")
                try:
                    if httpx.get(f"{base}/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "server did not become ready"
                time.sleep(0.2)
            yield CamserveProcess(base, process)
        finally:
            if process.poll() is None:
                process.terminate()
            process.wait(timeout=30)


@contextmanager
def serve_camserve(store_path: Path, timeout_s: float = 60.0, env: dict[str, str] | None = None) -> Iterator[str]:
    """``camserve_process`` for tests that need only its base URL."""
    with camserve_process(store_path, timeout_s, env) as server:
        yield server.base


# Training and evaluation: a synthetic two-class image folder and a tiny servable checkpoint.
CAT_RGB = (200, 60, 50)  # "cat" photos are red-ish
DOG_RGB = (50, 70, 200)  # "dog" photos are blue-ish
SYNTHETIC_PER_CLASS = 12


def write_image_folder(
    root: Path,
    colours: dict[str, tuple[int, int, int]] | None = None,
    per_class: int = SYNTHETIC_PER_CLASS,
    size: tuple[int, int] = (48, 40),
    seed: int = 0,
) -> Path:
    """``root/<class>/<class>-<i>.jpg``: per class, noisy JPEGs around one colour (red cats, blue dogs).

    Seeded, so the files (and their sizes, which the image cache's digest depends on) are reproducible.
    """
    colours = colours or {"cat": CAT_RGB, "dog": DOG_RGB}
    generator = np.random.default_rng(seed)
    width, height = size
    for name, colour in colours.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            noise = generator.normal(0.0, 25.0, size=(height, width, 3))
            pixels = np.clip(np.asarray(colour, dtype=np.float64) + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{name}-{index:02d}.jpg", quality=90)
    return root


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only synthetic cat/dog folder shared by the training and evaluation tests; copy it to modify it."""
    return write_image_folder(tmp_path_factory.mktemp("photos") / "catsdogs")


def write_tiny_checkpoint(
    weights_path: Path,
    class_names: tuple[str, ...] = ("cat", "dog"),
    input_size: int = 32,
    extra: dict[str, object] | None = None,
    architecture: str = "resnet34",
) -> Path:
    """A seeded, randomly initialised CAM checkpoint that ``load_checkpoint`` accepts, at a tiny input size."""
    metadata = ModelMetadata(
        name="tiny",
        version="test",
        architecture=architecture,
        class_names=class_names,
        input_size=input_size,
        trained=True,
        extra=extra or {},
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        network = build_network(metadata.architecture, metadata.num_classes)
    save_checkpoint(network, metadata, weights_path)
    return weights_path


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cat/dog checkpoint at 32 px with no recorded training split."""
    return write_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "tiny.safetensors")


TINY_ARCHITECTURE = "tiny-resnet"


def tiny_resnet_body(pretrained: bool) -> tuple[nn.Module, int]:
    """A resnet-shaped body (stem, then residual blocks) small enough to train for a few steps in a test."""
    from torchvision.models.resnet import BasicBlock

    downsample = nn.Sequential(nn.Conv2d(8, 16, 1, stride=2, bias=False), nn.BatchNorm2d(16))
    body = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(inplace=True),
        BasicBlock(8, 8),
        BasicBlock(8, 16, stride=2, downsample=downsample),
    )
    return body, 16


@pytest.fixture
def tiny_architecture(monkeypatch: pytest.MonkeyPatch) -> str:
    """Registers ``tiny-resnet`` with ``build_network`` (and so ``load_checkpoint``) for this test only."""
    from models import network

    monkeypatch.setitem(network.BODIES, TINY_ARCHITECTURE, tiny_resnet_body)
    return TINY_ARCHITECTURE
