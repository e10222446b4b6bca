"""Several camserve replicas on PostgreSQL and S3 behind HAProxy, started by the harness (scripts/cluster): any
replica serves what another stored, byte for byte; a replica killed or the database restarted under load loses
nothing that was answered 201; and the single process's hostile-input and concurrency checks hold through the
balancer.

Needs PostgreSQL, HAProxy and SeaweedFS's weed (as root the harness installs the first two); marked ``cluster``
so ``make test-fast`` leaves it out. One cluster serves the whole module, as starting one takes from seconds to
a minute (the first start on a machine times the runtimes); the tests that break it (a database restart, a
SIGKILL) come last. The first test starts a cluster of its own that must fail.
"""

import io
import itertools
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from bench.lib import raw_http
from tests.support.cluster import UP_TIMEOUT_S, Cluster, cluster_directory, require_tools, run_harness, running_cluster
from tests.support.hostile_uploads import CORPUS, NOT_ONE_FILE, PNG_8X8, assert_corpus_answer, assert_plain_error
from tests.support.photos import PNG_SIGNATURE, random_photo, small_photo
from tests.support.polling import wait_for
from tests.support.results import assert_same_results

pytestmark = pytest.mark.cluster

WORKERS = 4  # clients POSTing at once: enough that some are in flight whenever something breaks
REQUEST_TIMEOUT_S = 15.0  # far longer than any answer should take, even a 503 in an outage
MIN_ANSWERED = 20  # 201s before something is broken, so there is something to lose
STREAM_DEADLINE_S = 30.0
NOTICE_S = 2.0  # the balancer takes a dead replica out within 1 s (2 checks 500 ms apart; a refused connect: at once)
OUTAGE_S = 2.0  # POSTs sent while every replica says the database is away
RECOVERY_S = 30.0  # the database back, until every replica is ready again by itself


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    require_tools()
    with running_cluster() as running:
        yield running


@pytest.fixture(scope="module")
def balancer(cluster: Cluster) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cluster.url, timeout=REQUEST_TIMEOUT_S) as client:
        yield client


def readyz_status(base: str) -> int | None:
    """A replica's /readyz status; None when it does not answer at all."""
    try:
        return httpx.get(f"{base}/readyz", timeout=5).status_code
    except httpx.TransportError:
        return None


def posts_stored(base: str) -> float:
    """POSTs this replica answered 201, from its /metrics."""
    families = text_string_to_metric_families(httpx.get(f"{base}/metrics", timeout=5).text)
    return sum(
        sample.value
        for family in families
        for sample in family.samples
        if sample.name == "camserve_http_requests_total"
        and sample.labels["method"] == "POST"
        and sample.labels["status"] == "201"
    )


def assert_readable(answered: dict[str, dict[str, Any]], base: str, overlays: bool = False) -> None:
    """Every answered result reads back from ``base`` as it was answered (and, if asked, draws an overlay)."""
    with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_S) as client:
        for prediction_id, body in answered.items():
            served = client.get(f"/predictions/{prediction_id}")
            assert served.status_code == 200, (base, prediction_id, served.text)
            assert served.json() == body
            if overlays:
                overlay = client.get(f"/predictions/{prediction_id}/overlay.png")
                assert overlay.status_code == 200, (base, prediction_id)
                assert overlay.content.startswith(PNG_SIGNATURE)


# --- traffic through the balancer ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One POST: when it was sent and answered (time.monotonic), and how; ``status`` None: the connection was
    cut without an answer."""

    started: float
    ended: float
    status: int | None
    retry_after: str | None = None
    body: dict[str, Any] | None = None
    error: str | None = None


@contextmanager
def traffic(url: str) -> Iterator[list[Outcome]]:
    """WORKERS clients POSTing small, distinct photos to ``url`` until the block ends; yields the outcomes so far
    (a list they append to). After a refusal a client pauses briefly, as a polite one would, though shorter
    than Retry-After so an outage is sampled often."""
    outcomes: list[Outcome] = []
    numbers = itertools.count()
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S) as http:
            while not stop.is_set():
                upload = small_photo(next(numbers))
                started = time.monotonic()
                try:
                    response = http.post("/predictions", files={"file": upload})
                except httpx.TransportError as error:
                    outcomes.append(Outcome(started, time.monotonic(), None, error=repr(error)))
                    continue
                ended, status = time.monotonic(), response.status_code
                body = response.json() if status == 201 else None
                outcomes.append(Outcome(started, ended, status, response.headers.get("retry-after"), body))
                if status != 201:
                    time.sleep(0.1)

    with ThreadPoolExecutor(WORKERS) as pool:
        futures = [pool.submit(client) for _ in range(WORKERS)]
        try:
            yield outcomes
        finally:
            stop.set()
        for future in futures:
            future.result()


def answered(outcomes: list[Outcome]) -> dict[str, dict[str, Any]]:
    return {o.body["id"]: o.body for o in outcomes if o.body is not None}


def answers_after(outcomes: list[Outcome], moment: float) -> Callable[[], bool]:
    return lambda: any(o.status == 201 and o.started > moment for o in outcomes)


# --- the harness ----------------------------------------------------------------------------------------------


def processes_naming(text: str) -> list[int]:
    """PIDs whose command line or environment contains ``text``, as the harness recognises its own."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if any(text.encode() in (proc / part).read_bytes() for part in ("cmdline", "environ")):
                    found.append(int(proc.name))
            except OSError:  # ended while we looked, or not ours to read
                continue
    return found


def test_a_piece_that_does_not_start_is_named_with_its_log_and_the_rest_is_stopped() -> None:
    """The balancer's port is taken: up fails at the last step, says so with HAProxy's log, and stops the
    database, the S3 server and the replica it had started, keeping the logs. Runs before the module's cluster."""
    require_tools()
    with cluster_directory() as directory, socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        settings = {"CLUSTER_DIR": str(directory), "LB_PORT": port, "REPLICAS": "1"}
        with pytest.raises(RuntimeError) as failed:
            run_harness("up", env=settings, timeout_s=UP_TIMEOUT_S)
        message = str(failed.value)
        assert "replica 1 ready" in message  # it got that far
        assert "FAILED: HAProxy exited" in message
        assert "cannot bind socket" in message and port in message
        assert processes_naming(str(directory)) == []
        assert (directory / "logs" / "replica-1.log").stat().st_size > 0


# --- one cluster, one store ------------------------------------------------------------------------------------


def test_every_replica_is_ready_on_the_shared_store(cluster: Cluster) -> None:
    for base in cluster.replica_urls:
        readiness = httpx.get(f"{base}/readyz", timeout=5).json()
        assert readiness["ready"] is True, readiness
        assert readiness["storage"]["store"] == "postgresql+s3", readiness["storage"]
        assert readiness["storage"]["reachable"] is True
    assert httpx.get(f"{cluster.url}/readyz", timeout=5).status_code == 200


def test_status_finds_every_process_running_and_ready(cluster: Cluster) -> None:
    report = cluster.run("status")
    for name in ("postgres", "weed", "replica-1", "replica-2", "haproxy"):
        assert f"{name}: PID " in report, report
    for base in [*cluster.replica_urls, cluster.url]:
        assert f"{base}/readyz: 200" in report, report


def bucket_objects(cluster: Cluster, prediction_id: str) -> list[bytes]:
    """The bucket's objects whose key names the result, read with the cluster's own keys."""
    s3 = boto3.client(
        "s3",
        endpoint_url=cluster.env["AWS_ENDPOINT_URL"],
        aws_access_key_id=cluster.env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=cluster.env["AWS_SECRET_ACCESS_KEY"],
        region_name=cluster.env["AWS_REGION"],
    )
    bucket = cluster.env["CLUSTER_BUCKET"]
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    keys = [item["Key"] for page in pages for item in page.get("Contents", []) if prediction_id in item["Key"]]
    return [s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys]


def test_a_delete_through_one_replica_ends_the_result_on_every_replica(
    cluster: Cluster, balancer: httpx.Client, chelsea_bytes: bytes
) -> None:
    """Each replica has drawn the overlay (so holds it in its render cache) before another deletes the result."""
    links = balancer.post("/predictions", files={"file": ("chelsea.png", chelsea_bytes)}).json()["links"]
    for base in cluster.replica_urls:
        assert httpx.get(f"{base}{links['overlay']}", timeout=REQUEST_TIMEOUT_S).status_code == 200
    assert httpx.delete(f"{cluster.replica_urls[0]}{links['self']}", timeout=REQUEST_TIMEOUT_S).status_code == 204
    for base in [*cluster.replica_urls, cluster.url]:
        for path in (links["self"], links["overlay"], f"{links['self']}/maps"):
            assert httpx.get(f"{base}{path}", timeout=REQUEST_TIMEOUT_S).status_code == 404, (base, path)


# --- the single process's checks, through the balancer ---------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "name", "content_type", "status", "expected"), [case[1:] for case in CORPUS], ids=[c[0] for c in CORPUS]
)
def test_a_hostile_upload_through_the_balancer(
    balancer: httpx.Client,
    make: Callable[[], bytes],
    name: str,
    content_type: str,
    status: int,
    expected: tuple[int, int] | str,
) -> None:
    """tests/service/test_hostile_inputs.py's corpus: the same answers through HAProxy, the overlay read back
    through it too (from whichever replica it picks)."""
    response = balancer.post("/predictions", files={"file": (name, make(), content_type)})
    assert_corpus_answer(balancer, response, status, expected)


@pytest.mark.parametrize(("request_kwargs", "status", "message"), NOT_ONE_FILE)
def test_a_body_that_is_not_one_uploaded_file_through_the_balancer(
    balancer: httpx.Client, request_kwargs: dict[str, Any], status: int, message: str
) -> None:
    """tests/service/test_hostile_inputs.py's bodies without exactly one file: the same plain errors through HAProxy."""
    assert_plain_error(balancer.post("/predictions", **request_kwargs), status, message)


def test_every_replica_is_still_up_after_the_corpus(cluster: Cluster, balancer: httpx.Client) -> None:
    for base in cluster.replica_urls:
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        assert readyz_status(base) == 200
    assert balancer.post("/predictions", files={"file": ("p.png", PNG_8X8)}).status_code == 201


def test_concurrent_uploads_through_the_balancer_get_their_own_results(balancer: httpx.Client) -> None:
    """As tests/service/test_routes_predictions.py's check: many photos at once, spread over the replicas and
    batched there, give what they give one at a time."""
    photos = [random_photo(seed) for seed in range(16)]

    def send(photo: bytes) -> tuple[httpx.Response, float, bytes]:
        started = time.perf_counter()
        response = balancer.post("/predictions", files={"file": ("p", photo)})
        elapsed = time.perf_counter() - started
        if response.status_code != 201:
            return response, elapsed, b""
        return response, elapsed, balancer.get(response.json()["links"]["heatmap"] + "?class=cat").content

    alone = [send(photo) for photo in photos]
    with ThreadPoolExecutor(len(photos)) as pool:
        together = list(pool.map(send, photos))
    assert_same_results(alone, together)


HEAD_LIMIT = 16384  # CAMSERVE_MAX_HEAD_BYTES's default


def test_the_balancer_passes_every_head_camserve_accepts_and_cuts_off_a_flood(cluster: Cluster) -> None:
    start = b"GET /healthz HTTP/1.1\r\nHost: camserve\r\nX-Padding: "
    end = b"\r\nConnection: close\r\n\r\n"
    with raw_http.connect(cluster.url) as sock:
        sock.sendall(start + b"a" * (HEAD_LIMIT - len(start) - len(end)) + end)
        assert raw_http.read_until_closed(sock).startswith(b"HTTP/1.1 200 ")
    with raw_http.connect(cluster.url) as sock:
        raw_http.send_until_refused(sock, iter([start] + [b"a" * 65536] * 64))
        answer = raw_http.read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 400 ")


def test_slow_connections_at_the_balancer_do_not_hold_up_a_photo(cluster: Cluster, chelsea_bytes: bytes) -> None:
    """As tests/service/test_connections.py's check: 500 clients each send half a head and wait."""
    slow = []
    try:
        for _ in range(500):
            sock = raw_http.connect(cluster.url)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: camserve\r\n")
            slow.append(sock)
        started = time.monotonic()
        response = httpx.post(f"{cluster.url}/predictions", files={"file": chelsea_bytes}, timeout=REQUEST_TIMEOUT_S)
        elapsed = time.monotonic() - started
    finally:
        for sock in slow:
            sock.close()
    assert response.status_code == 201
    assert elapsed < 2


# --- failures under load ---------------------------------------------------------------------------------------


def test_a_database_restart_under_load_answers_503_then_recovers_by_itself(cluster: Cluster) -> None:
    replicas = cluster.replica_urls
    with traffic(cluster.url) as outcomes:
        assert wait_for(lambda: len(answered(outcomes)) >= MIN_ANSWERED, STREAM_DEADLINE_S)
        stopping = time.monotonic()
        cluster.run("stop-db")
        stopped = time.monotonic()
        assert wait_for(lambda: all(readyz_status(base) == 503 for base in replicas), timeout_s=15)
        for base in replicas:
            storage = httpx.get(f"{base}/readyz", timeout=5).json()["storage"]
            assert storage["reachable"] is False and storage["problem"], storage
        time.sleep(OUTAGE_S)
        starting = time.monotonic()
        cluster.run("start-db")
        assert wait_for(lambda: all(readyz_status(base) == 200 for base in replicas), timeout_s=RECOVERY_S)
        assert wait_for(answers_after(outcomes, time.monotonic()), timeout_s=RECOVERY_S)

    statuses = Counter(o.status for o in outcomes)
    assert set(statuses) <= {201, 503}, statuses  # never a 500, never a cut connection
    refused = [o for o in outcomes if o.status == 503]
    assert all(o.retry_after for o in refused)
    assert all(o.ended > stopping for o in refused), "a 503 before the database was stopped"
    in_outage = [o for o in outcomes if o.started > stopped and o.ended < starting]
    assert len(in_outage) >= WORKERS
    assert {o.status for o in in_outage} == {503}, "a POST answered while the database was down"
    assert_readable(answered(outcomes), cluster.url, overlays=True)


def test_a_replica_killed_under_load_loses_nothing_acknowledged(cluster: Cluster) -> None:
    survivor, victim = cluster.replica_urls[0], cluster.replica_urls[1]
    stored_before = [posts_stored(base) for base in (survivor, victim)]
    with traffic(cluster.url) as outcomes:
        assert wait_for(lambda: len(answered(outcomes)) >= MIN_ANSWERED, STREAM_DEADLINE_S)
        assert wait_for(lambda: posts_stored(victim) > stored_before[1], STREAM_DEADLINE_S), "no POST reached it"
        assert posts_stored(survivor) > stored_before[0]
        killing = time.monotonic()
        cluster.run("kill-replica", "2")  # the SIGKILL comes somewhere in here, after the harness has started
        killed = time.monotonic()
        assert wait_for(answers_after(outcomes, killed + NOTICE_S), timeout_s=STREAM_DEADLINE_S)
        time.sleep(1.0)

    statuses = Counter(o.status for o in outcomes)
    assert 500 not in statuses, statuses
    failed = [o for o in outcomes if o.status != 201]
    # Only what was in flight on the dead replica, or sent before the balancer noticed.
    assert all(killing < o.ended and o.started < killed + NOTICE_S for o in failed), failed
    assert len(failed) <= WORKERS, failed
    stored = answered(outcomes)
    assert_readable(stored, cluster.url)
    assert_readable(stored, survivor, overlays=True)
    # Started again, it serves everything, what it answered itself before dying included: it kept nothing.
    cluster.run("start-replica", "2")
    assert_readable(stored, victim)


def test_a_result_posted_through_the_balancer_reads_the_same_from_every_replica(
    cluster: Cluster, balancer: httpx.Client, chelsea_bytes: bytes
) -> None:
    posted = balancer.post("/predictions", files={"file": ("chelsea.png", chelsea_bytes)})
    assert posted.status_code == 201, posted.text
    body = posted.json()
    links = body["links"]
    served = []
    for base in cluster.replica_urls:
        with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_S) as replica:
            answers = [replica.get(path) for path in (links["self"], f"{links['self']}/maps", links["overlay"])]
        assert [a.status_code for a in answers] == [200, 200, 200], base
        result, maps, overlay = answers
        assert result.json() == body
        served.append((maps.json(), overlay.content))
    assert all(one == served[0] for one in served[1:])
    assert Image.open(io.BytesIO(served[0][1])).size == (body["width"], body["height"])
    assert chelsea_bytes in bucket_objects(cluster, body["id"]), "the photo is not in the bucket"
