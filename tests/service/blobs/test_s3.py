"""Photo bytes in a real S3 server (SeaweedFS, from the cluster harness)."""

import boto3
import pytest

from camserve.service.blobs import open_blobs
from camserve.service.stores import StoreUnavailable
from tests.support.backing import BackingServices

pytestmark = pytest.mark.cluster


def test_bytes_round_trip_under_the_prefix(backing_services: BackingServices) -> None:
    blobs = open_blobs(f"s3://{backing_services.bucket}/blob-tests/round-trip")
    blobs.put("a", b"\x00photo\xff")
    assert blobs.get("a") == b"\x00photo\xff"
    listed = boto3.client("s3").list_objects_v2(Bucket=backing_services.bucket, Prefix="blob-tests/round-trip/")
    assert [item["Key"] for item in listed["Contents"]] == ["blob-tests/round-trip/a"]
    blobs.check()


def test_deleted_and_unknown_keys_read_as_none(backing_services: BackingServices) -> None:
    blobs = open_blobs(f"s3://{backing_services.bucket}/blob-tests/delete")
    blobs.put("a", b"one")
    blobs.put("b", b"two")
    blobs.delete(["a", "never-stored"])
    assert blobs.get("a") is None
    assert blobs.get("never-stored") is None
    assert blobs.get("b") == b"two"


def test_a_missing_bucket_fails_the_check(backing_services: BackingServices) -> None:
    with pytest.raises(StoreUnavailable):
        open_blobs("s3://no-such-bucket-here/photos").check()


def test_an_unreachable_server_is_unavailable(
    backing_services: BackingServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    blobs = open_blobs(f"s3://{backing_services.bucket}/photos")
    for call in (blobs.check, lambda: blobs.put("a", b"x"), lambda: blobs.get("a"), lambda: blobs.delete(["a"])):
        with pytest.raises(StoreUnavailable):
            call()
