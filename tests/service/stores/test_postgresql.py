"""The PostgreSQL store's own promises: migrations that replicas may run at once, a database newer than the
code refused, outages reported as StoreUnavailable, and a database or bucket that takes no writes reported by
readiness; with recovery by itself."""

import multiprocessing
import time

import boto3
import psycopg
import pytest

from camserve.service.blobs import BlobStore
from camserve.service.stores import PredictionStore, StoreLimits, StoreUnavailable, StoreUnwritable, open_store
from camserve.service.stores._postgresql_connections import STALE_AFTER_S
from camserve.service.stores._postgresql_schema import MIGRATIONS
from tests.support.backing import BackingServices, fresh_database
from tests.support.stores import ROOMY, make_maps, make_result, put_numbered

pytestmark = pytest.mark.cluster


def _open_and_store(url: str, number: int) -> None:
    """One replica starting: migrate, then store a result."""
    store = open_store(url, ROOMY)
    put_numbered(store, number)
    store.close()


def test_replicas_starting_at_once_migrate_once(backing_services: BackingServices) -> None:
    url = fresh_database(backing_services)
    context = multiprocessing.get_context("spawn")
    starting = [context.Process(target=_open_and_store, args=(url, number)) for number in range(4)]
    for process in starting:
        process.start()
    for process in starting:
        process.join(timeout=120)
    assert [process.exitcode for process in starting] == [0, 0, 0, 0]
    with psycopg.connect(url) as connection:
        versions = [row[0] for row in connection.execute("SELECT version FROM camserve_schema ORDER BY version")]
    assert versions == list(range(1, len(MIGRATIONS) + 1))
    assert open_store(url, ROOMY).count() == 4


def test_a_database_newer_than_the_code_is_refused(backing_services: BackingServices) -> None:
    url = fresh_database(backing_services)
    open_store(url, ROOMY).close()
    with psycopg.connect(url) as connection:
        connection.execute("INSERT INTO camserve_schema (version) VALUES (%s)", (len(MIGRATIONS) + 1,))
    with pytest.raises(RuntimeError, match="schema version"):
        open_store(url, ROOMY)


def test_an_unreachable_database_is_unavailable_and_the_store_still_opens() -> None:
    """The service may start before its database: the store opens, and every call says it cannot reach it."""
    store = open_store("postgresql://camserve:secret@127.0.0.1:1/camserve", StoreLimits(ROOMY.max_bytes, 60))
    for call in (store.check, lambda: store.get("x"), lambda: put_numbered(store, 1), store.sweep):
        with pytest.raises(StoreUnavailable) as raised:
            call()
        assert "secret" not in str(raised.value)


def _terminate_connections(services: BackingServices, url: str) -> None:
    """What a database restart does to every open connection."""
    database = url.rsplit("/", 1)[1]
    with psycopg.connect(services.postgres_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        )


def test_connections_a_restart_broke_are_replaced(backing_services: BackingServices) -> None:
    url = fresh_database(backing_services)
    store = open_store(url, StoreLimits(ROOMY.max_bytes))
    put_numbered(store, 1)
    _terminate_connections(backing_services, url)
    time.sleep(STALE_AFTER_S * 1.5)  # an outage lasts longer than this: idle connections are tested first
    assert store.get_result("p0001") == make_result("p0001")
    store.put("after", make_result("after"), b"photo", make_maps(2))
    assert store.count() == 2


def test_a_connection_broken_mid_use_fails_one_call_then_is_gone(backing_services: BackingServices) -> None:
    url = fresh_database(backing_services)
    store = open_store(url, ROOMY)
    put_numbered(store, 1)
    _terminate_connections(backing_services, url)
    with pytest.raises(StoreUnavailable):
        store.get_result("p0001")
    assert store.get_result("p0001") == make_result("p0001")


def _bucket_of(store: PredictionStore) -> BlobStore:
    """The store's bucket, to make it fail."""
    blobs: BlobStore = store._bucket._blobs  # type: ignore[attr-defined]
    return blobs


def _objects(services: BackingServices, prefix: str) -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=services.bucket, Prefix=prefix + "/")
    return [item["Key"] for item in listed.get("Contents", [])]


def test_a_failed_upload_commits_nothing(backing_services: BackingServices, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = f"uploads-{time.time_ns()}"
    store = open_store(fresh_database(backing_services), ROOMY, f"s3://{backing_services.bucket}/{prefix}")
    put_numbered(store, 1)

    def refuse(_key: str, _photo: bytes) -> None:
        raise StoreUnavailable("the bucket went away")

    monkeypatch.setattr(_bucket_of(store), "put", refuse)
    total = store.total_bytes()
    with pytest.raises(StoreUnavailable, match="the bucket went away"):
        put_numbered(store, 2)
    assert store.get_result("p0002") is None
    assert (store.count(), store.total_bytes()) == (1, total)
    assert len(_objects(backing_services, prefix)) == 1


def test_photos_a_bucket_outage_left_behind_are_deleted_by_the_sweep(
    backing_services: BackingServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = f"orphans-{time.time_ns()}"
    store = open_store(fresh_database(backing_services), ROOMY, f"s3://{backing_services.bucket}/{prefix}")
    put_numbered(store, 1)
    blobs = _bucket_of(store)
    working_delete = blobs.delete

    def refuse(_keys: list[str]) -> None:
        raise StoreUnavailable("the bucket went away")

    monkeypatch.setattr(blobs, "delete", refuse)
    assert store.delete("p0001")  # the row goes at once; its photo waits for the bucket
    assert store.get("p0001") is None
    assert len(_objects(backing_services, prefix)) == 1
    assert store.sweep() == []
    monkeypatch.setattr(blobs, "delete", working_delete)
    store.sweep()
    assert _objects(backing_services, prefix) == []


def _orphan_records(url: str) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT count(*) FROM orphan_blobs").fetchone()
    return int(row[0]) if row else 0


def test_a_staged_photo_is_stored_without_a_second_upload(
    backing_services: BackingServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = f"staged-{time.time_ns()}"
    url = fresh_database(backing_services)
    store = open_store(url, ROOMY, f"s3://{backing_services.bucket}/{prefix}")
    assert store.stages_photos
    store.stage("p0001", bytes([1]) * 1000)
    assert _orphan_records(url) == 1  # until its result is stored, the staged photo is the sweep's to delete

    def refuse(_key: str, _photo: bytes) -> None:
        raise AssertionError("uploaded twice")

    monkeypatch.setattr(_bucket_of(store), "put", refuse)
    put_numbered(store, 1)
    stored = store.get("p0001")
    assert stored is not None and stored.photo == bytes([1]) * 1000
    assert _orphan_records(url) == 0
    assert len(_objects(backing_services, prefix)) == 1


def test_an_unstaged_photo_is_gone(backing_services: BackingServices) -> None:
    prefix = f"unstaged-{time.time_ns()}"
    url = fresh_database(backing_services)
    store = open_store(url, ROOMY, f"s3://{backing_services.bucket}/{prefix}")
    store.stage("refused", b"photo")
    store.unstage("refused")
    assert _objects(backing_services, prefix) == []
    assert _orphan_records(url) == 0
    store.unstage("never-staged")


def test_a_staged_photo_left_by_a_dead_process_is_swept_after_the_grace(
    backing_services: BackingServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = f"abandoned-{time.time_ns()}"
    url = fresh_database(backing_services)
    blob_url = f"s3://{backing_services.bucket}/{prefix}"
    open_store(url, ROOMY, blob_url).stage("in-flight", b"photo")  # staged, then nothing: the process died
    survivor = open_store(url, ROOMY, blob_url)
    survivor.sweep()
    assert len(_objects(backing_services, prefix)) == 1  # within the grace its request may still store it
    monkeypatch.setattr(time, "time", lambda: time.monotonic() + 1e10)
    survivor.sweep()
    assert _objects(backing_services, prefix) == []
    assert _orphan_records(url) == 0


def _read_only(services: BackingServices, url: str, read_only: bool) -> None:
    """A database that refuses writes, as a hot standby does after a fail-over; new sessions only."""
    database = url.rsplit("/", 1)[1]
    setting = "SET default_transaction_read_only = on" if read_only else "RESET default_transaction_read_only"
    with psycopg.connect(services.postgres_url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" {setting}'.encode())


def test_a_read_only_database_is_unwritable_until_it_takes_writes_again(backing_services: BackingServices) -> None:
    url = fresh_database(backing_services)
    store = open_store(url, ROOMY)
    store.write_probe_interval_s = 0.0
    put_numbered(store, 1)
    store.check()
    _read_only(backing_services, url, True)
    store._connections.close()  # type: ignore[attr-defined]  # idle sessions keep the setting they began with
    with pytest.raises(StoreUnavailable, match="read-only transaction"):  # a 503, not a 500
        put_numbered(store, 2)
    with pytest.raises(StoreUnwritable, match=r"^the store cannot write \(since .*read-only transaction"):
        store.check()
    assert store.get_result("p0001") == make_result("p0001")  # reads go on
    _read_only(backing_services, url, False)
    store._connections.close()  # type: ignore[attr-defined]
    store.check()
    put_numbered(store, 2)
    assert store.count() == 2
    with psycopg.connect(url) as connection:
        assert connection.execute("SELECT count(*) FROM write_probe").fetchone() == (0,)


def test_a_bucket_that_refuses_writes_makes_the_store_unwritable(
    backing_services: BackingServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = f"read-only-{time.time_ns()}"
    store = open_store(fresh_database(backing_services), ROOMY, f"s3://{backing_services.bucket}/{prefix}")
    store.write_probe_interval_s = 0.0
    store.check()
    assert _objects(backing_services, prefix) == []  # the probe's object is deleted again
    blobs = _bucket_of(store)
    working_put = blobs.put

    def refuse(_key: str, _photo: bytes) -> None:
        raise StoreUnavailable("S3: Access Denied")

    monkeypatch.setattr(blobs, "put", refuse)
    with pytest.raises(StoreUnwritable, match="S3: Access Denied"):
        store.check()
    monkeypatch.setattr(blobs, "put", working_put)
    store.check()
    put_numbered(store, 1)
    assert len(_objects(backing_services, prefix)) == 1
