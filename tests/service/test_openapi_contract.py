"""The app against its own OpenAPI schema: schemathesis generates requests for every operation, and every
answer must be no 5xx and match what the schema documents for its status (clients are generated from that
schema, so an undocumented error body breaks them). In-process, on both committed models, bounded.

schemathesis needs the schema when the module is collected, so the app is built at import, and schemathesis
runs its lifespan. Each case first waits for /readyz: the warm-up 503 is documented but not under test.
"""

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
import torch
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance
from schemathesis.python.asgi import shutdown_lifespans

from camserve.models.checkpoint import load_checkpoint
from camserve.models.metadata import SHIPPED_CIFAR_WEIGHTS, SHIPPED_WEIGHTS
from camserve.models.runtimes.torch import TorchPredictor
from camserve.service.app import create_app
from camserve.service.served_models import LoadedModel
from camserve.service.settings import Settings

STORE = tempfile.TemporaryDirectory(prefix="camserve-contract-")
APP = create_app(
    Settings(store_path=Path(STORE.name) / "store.sqlite3"),
    TorchPredictor(*load_checkpoint(SHIPPED_WEIGHTS), device=torch.device("cpu"), precision="fp32"),
    extra_models=[
        LoadedModel.given(
            TorchPredictor(*load_checkpoint(SHIPPED_CIFAR_WEIGHTS), device=torch.device("cpu"), precision="fp32")
        )
    ],
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
READYZ = schema["/readyz"]["GET"]


def wait_until_ready(timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while READYZ.Case().call().status_code != 200:
        assert time.monotonic() < deadline, "the app did not become ready"
        time.sleep(0.02)


@pytest.fixture(scope="module", autouse=True)
def lifespan() -> Iterator[None]:
    yield
    shutdown_lifespans()
    STORE.cleanup()


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_honours_the_schema(case: schemathesis.Case) -> None:
    wait_until_ready()
    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])
