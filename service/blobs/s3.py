"""Photo bytes in an S3 bucket (``CAMSERVE_BLOB_URL=s3://bucket/prefix``), through boto3.

boto3 reads ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY`` itself (and IAM roles,
profiles and the rest of the standard chain); ``AWS_REGION``, which botocore does not read, is passed on here.
Timeouts are short and retries few: a request that cannot reach the bucket should hear 503 within seconds,
not hang. The bucket must exist; the service never creates buckets.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from camserve.service.stores.base import StoreUnavailable

# One DeleteObjects request takes at most this many keys (the S3 API's limit).
DELETE_BATCH = 1000
_CLIENT_CONFIG = Config(
    connect_timeout=2,
    read_timeout=10,
    retries={"max_attempts": 2, "mode": "standard"},
    # Checksums only where the API demands them: the bytes stay on the loopback or inside a VPC, and every
    # S3-compatible server need not support the newer checksum headers.
    request_checksum_calculation="when_required",
    response_checksum_validation="when_required",
)
_MISSING = {"NoSuchKey", "404", "NotFound"}


def open_blobs(url: str) -> "S3Blobs":
    parts = urlsplit(url)
    if not parts.netloc:
        raise ValueError(f"{url!r} names no bucket; write s3://bucket/prefix")
    return S3Blobs(parts.netloc, parts.path.strip("/"))


@contextmanager
def _translated_errors() -> Iterator[None]:
    try:
        yield
    except (BotoCoreError, ClientError) as error:
        raise StoreUnavailable(f"S3: {error}") from error


class S3Blobs:
    kind = "s3"

    def __init__(self, bucket: str, prefix: str) -> None:
        self.bucket = bucket
        self._prefix = f"{prefix}/" if prefix else ""
        self._client = boto3.client("s3", region_name=os.environ.get("AWS_REGION"), config=_CLIENT_CONFIG)

    def _key(self, key: str) -> str:
        return self._prefix + key

    def put(self, key: str, data: bytes) -> None:
        with _translated_errors():
            self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def get(self, key: str) -> bytes | None:
        with _translated_errors():
            try:
                body: bytes = self._client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
            except ClientError as error:
                if error.response["Error"]["Code"] in _MISSING:
                    return None
                raise
        return body

    def delete(self, keys: list[str]) -> None:
        with _translated_errors():
            for start in range(0, len(keys), DELETE_BATCH):
                batch = [{"Key": self._key(key)} for key in keys[start : start + DELETE_BATCH]]
                answer = self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
                if answer.get("Errors"):
                    raise StoreUnavailable(f"S3 kept {len(answer['Errors'])} objects: {answer['Errors'][0]}")

    def check(self) -> None:
        with _translated_errors():
            self._client.head_bucket(Bucket=self.bucket)
