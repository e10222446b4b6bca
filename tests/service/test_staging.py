"""Photos staged in a bucket while the model looks: a stored result keeps its photo, and a request that stores
nothing leaves nothing in the bucket (real PostgreSQL and S3, marked cluster)."""

import time
from collections.abc import Iterator

import boto3
import psycopg
import pytest
from fastapi.testclient import TestClient

from camserve.models.runtimes.torch import TorchPredictor
from camserve.service.app import create_app
from camserve.service.settings import Settings
from tests.support.backing import BackingServices, fresh_database
from tests.support.hostile_uploads import truncated
from tests.support.polling import wait_for

pytestmark = pytest.mark.cluster


@pytest.fixture
def bucketed(
    backing_services: BackingServices, red_patch_predictor: TorchPredictor
) -> Iterator[tuple[TestClient, str, str]]:
    """A client of an app on a fresh database with photos under a fresh prefix; the database URL; the prefix."""
    url, prefix = fresh_database(backing_services), f"staging-{time.time_ns()}"
    settings = Settings(store_url=url, blob_url=f"s3://{backing_services.bucket}/{prefix}")
    with TestClient(create_app(settings, red_patch_predictor)) as client:
        yield client, url, prefix


def objects(services: BackingServices, prefix: str) -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=services.bucket, Prefix=prefix + "/")
    return [item["Key"] for item in listed.get("Contents", [])]


def orphan_records(url: str) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT count(*) FROM orphan_blobs").fetchone()
    return int(row[0]) if row else 0


def test_a_stored_result_keeps_its_staged_photo(
    backing_services: BackingServices, bucketed: tuple[TestClient, str, str], chelsea_bytes: bytes
) -> None:
    client, url, prefix = bucketed
    posted = client.post("/predictions", files={"file": ("c.png", chelsea_bytes, "image/png")})
    assert posted.status_code == 201
    assert client.get(posted.json()["links"]["overlay"]).status_code == 200
    assert len(objects(backing_services, prefix)) == 1
    assert orphan_records(url) == 0


@pytest.mark.parametrize(
    ("photo", "status"),
    [pytest.param(b"not a photo at all", 415, id="not-a-photo"), pytest.param(truncated("JPEG"), 422, id="truncated")],
)
def test_a_refused_photo_leaves_nothing_in_the_bucket(
    backing_services: BackingServices, bucketed: tuple[TestClient, str, str], photo: bytes, status: int
) -> None:
    client, url, prefix = bucketed
    assert client.post("/predictions", files={"file": ("p", photo)}).status_code == status
    assert wait_for(lambda: objects(backing_services, prefix) == [] and orphan_records(url) == 0)
