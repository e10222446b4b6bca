"""Fixtures the service's tests share: camserve on a real socket for the Open Inference Protocol's clients."""

from collections.abc import Iterator

import pytest

from camserve.models.runtimes.torch import TorchPredictor
from camserve.service.app import create_app
from camserve.service.served_models import LoadedModel
from camserve.service.settings import Settings
from tests.support.open_inference import KEY
from tests.support.photos import random_photo, small_photo
from tests.support.servers import app_on_a_socket


@pytest.fixture(scope="module")
def base_url(
    tmp_path_factory: pytest.TempPathFactory, served_predictor: TorchPredictor, cifar_predictor: TorchPredictor
) -> Iterator[str]:
    """One server per test module, on both committed models, with an API key (tests.support.open_inference)."""
    settings = Settings(store_path=tmp_path_factory.mktemp("oip") / "store.sqlite3", api_key=KEY)
    app = create_app(settings, served_predictor, extra_models=[LoadedModel.given(cifar_predictor)])
    with app_on_a_socket(app) as base:
        yield base


@pytest.fixture(scope="module")
def batch(chelsea_bytes: bytes) -> list[bytes]:
    """Three photos of different sizes and formats: the cat, random noise and a small synthetic one."""
    return [chelsea_bytes, random_photo(7), small_photo(3)[1]]
