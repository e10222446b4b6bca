"""Shared fixtures: the committed checkpoint on each runtime, the hand-built red-patch model, apps and clients
over temporary stores, and synthetic photo folders. The helpers they are built from live in ``tests/support``."""

import os
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
import torch
from fastapi.testclient import TestClient

from camserve.models.dataset import Split, scan_image_folder
from camserve.models.graphs.export import cached_onnx_export
from camserve.models.metadata import SHIPPED_CIFAR_WEIGHTS, SHIPPED_WEIGHTS
from camserve.models.runtimes import RuntimeRequest
from camserve.models.runtimes.onnxruntime import OnnxRuntimePredictor
from camserve.models.runtimes.onnxruntime import load as load_onnxruntime
from camserve.models.runtimes.torch import TorchPredictor
from camserve.models.runtimes.torch import load as load_torch
from camserve.service.app import create_app
from camserve.service.settings import Settings
from tests.support.backing import BackingServices, running_backing_services
from tests.support.cifar import write_cifar_archive
from tests.support.networks import (
    RED_PATCH_METADATA,
    TINY_ARCHITECTURE,
    build_red_patch_network,
    write_tiny_checkpoint,
)
from tests.support.photos import CHELSEA, QUICK_ENCODINGS, encode_quickly, phone_sized_chelsea, write_image_folder
from tests.support.servers import wait_until_ready

# CI must be reproducible: there hypothesis draws the same examples every run; locally it explores.
hypothesis.settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") == "true":
    hypothesis.settings.load_profile("ci")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/e2e drives a browser: mark it, so ``make test-fast`` can leave it out."""
    for item in items:
        if "e2e" in item.path.parts:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(autouse=True, scope="session")
def caches_in_a_temporary_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the run's ONNX exports and runtime timings out of the checkout's var/; served processes inherit
    the variables, so every server of the run shares one timing of this machine."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CAMSERVE_ONNX_CACHE_DIR", str(tmp_path_factory.mktemp("onnx-cache")))
        patch.setenv("CAMSERVE_RUNTIME_CACHE_DIR", str(tmp_path_factory.mktemp("runtime-choice")))
        yield


@pytest.fixture(scope="session")
def chelsea_bytes() -> bytes:
    return CHELSEA.read_bytes()


@pytest.fixture(scope="session")
def phone_photos() -> dict[str, bytes]:
    """The cat at a phone's 12 MP as JPEG, HEIC ("HEIF") and AVIF, encoded once for the run (about 4 s)."""
    source = phone_sized_chelsea()
    return {fmt: encode_quickly(source, fmt) for fmt in QUICK_ENCODINGS}


@pytest.fixture(scope="session")
def served_predictor() -> TorchPredictor:
    """The committed checkpoint on PyTorch, CPU fp32, loaded once for the whole run."""
    return load_torch(RuntimeRequest(SHIPPED_WEIGHTS, device="cpu", precision="fp32"))


@pytest.fixture(scope="session")
def cifar_predictor() -> TorchPredictor:
    """The committed CIFAR-10 checkpoint (the lesson's Resnet2) on PyTorch, CPU fp32: the second served model."""
    return load_torch(RuntimeRequest(SHIPPED_CIFAR_WEIGHTS, device="cpu", precision="fp32"))


@pytest.fixture(scope="session")
def shipped_onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the committed checkpoint's ONNX export, made once for the whole run (seconds of torch);
    read it only: tests that serve from it start as every start after the first does."""
    cache = tmp_path_factory.mktemp("onnx")
    cached_onnx_export(SHIPPED_WEIGHTS, cache)
    return cache


@pytest.fixture(scope="session")
def served_onnx_predictor(shipped_onnx_cache: Path) -> OnnxRuntimePredictor:
    """The committed checkpoint's ONNX export, run by ONNX Runtime."""
    return load_onnxruntime(RuntimeRequest(SHIPPED_WEIGHTS, cache_dir=shipped_onnx_cache))


@pytest.fixture(scope="session")
def red_patch_predictor() -> TorchPredictor:
    return TorchPredictor(build_red_patch_network(), RED_PATCH_METADATA, torch.device("cpu"), "fp32")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(store_path=tmp_path / "store.sqlite3")


@pytest.fixture
def client(settings: Settings, served_predictor: TorchPredictor) -> Iterator[TestClient]:
    """A client of the real app on the committed weights, started and warmed up."""
    with TestClient(create_app(settings, served_predictor)) as test_client:
        wait_until_ready(test_client)
        yield test_client


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only synthetic cat/dog folder shared by the training and evaluation tests; copy it to modify it."""
    return write_image_folder(tmp_path_factory.mktemp("photos") / "catsdogs")


@pytest.fixture(scope="session")
def cifar_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only tiny CIFAR-shaped tar.gz: 3 classes, 12 training and 4 test photos each."""
    return write_cifar_archive(tmp_path_factory.mktemp("cifar") / "tiny-cifar.tar.gz")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cat/dog checkpoint at 32 px with no recorded training split."""
    return write_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "tiny.safetensors")


@pytest.fixture(scope="session")
def tiny_onnx_cache(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with ``tiny_checkpoint``'s ONNX export, made once for the run; read it only, like
    ``shipped_onnx_cache``."""
    cache = tmp_path_factory.mktemp("tiny-onnx")
    cached_onnx_export(tiny_checkpoint, cache)
    return cache


@pytest.fixture
def checkpoint_with_split(image_folder: Path, tmp_path: Path) -> Path:
    """A tiny checkpoint that records a split of ``image_folder``, as ``camserve train`` writes one; its own
    copy per test, for commands that write beside it (quantize, calibrate)."""
    split = Split(0.5, seed=0).describe(scan_image_folder(image_folder))
    return write_tiny_checkpoint(tmp_path / "tiny" / "tiny.safetensors", extra={"split": split})


@pytest.fixture(scope="session")
def tiny_architecture() -> str:
    """The name of the tiny resnet-shaped body, registered with ``build_network`` by ``tests.support.networks``."""
    return TINY_ARCHITECTURE


@pytest.fixture(scope="session")
def backing_services() -> Iterator[BackingServices]:
    """PostgreSQL and an S3 bucket, started once for the run; the store tests' S3 client reads the AWS
    variables this sets."""
    with running_backing_services() as services, pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", services.s3_endpoint)
        patch.setenv("AWS_ACCESS_KEY_ID", services.access_key)
        patch.setenv("AWS_SECRET_ACCESS_KEY", services.secret_key)
        patch.setenv("AWS_REGION", "us-east-1")
        yield services
