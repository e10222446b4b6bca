"""Every store under the same tests: SQLite always; PostgreSQL, with photos in the database and in an S3
bucket, on real servers the cluster harness starts once per run (marked ``cluster``)."""

import itertools
from collections.abc import Iterator

import pytest

from camserve.service.stores import PredictionStore, StoreLimits, open_store
from tests.support.backing import BackingServices, fresh_database
from tests.support.stores import OpenStore

_numbers = itertools.count()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.cluster),
        pytest.param("postgresql+s3", marks=pytest.mark.cluster),
    ]
)
def open_any_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenStore]:
    """Opens stores of one kind on one fresh database (or file, or bucket prefix): a reopened store sees what
    an earlier one wrote, as after a restart or on another replica."""
    if request.param == "sqlite":
        url, blob_url = f"sqlite:///{tmp_path_factory.mktemp('store')}/store.sqlite3", None
    else:
        services: BackingServices = request.getfixturevalue("backing_services")
        url = fresh_database(services)
        blob_url = f"s3://{services.bucket}/test-{next(_numbers)}" if request.param.endswith("s3") else None
    opened: list[PredictionStore] = []

    def open_one(limits: StoreLimits) -> PredictionStore:
        store = open_store(url, limits, blob_url)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()
