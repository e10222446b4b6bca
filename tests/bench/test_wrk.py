"""wrk's requests as written here, and the Lua script's report from a real run against a tiny server."""

from pathlib import Path

import pytest
from python_multipart.multipart import parse_options_header

from bench.lib import wrk
from bench.lib.photos import Photo
from tests.bench.fake_server import serving

PHOTOS = [Photo(f"photo{i}", 8, 8, bytes([i]) * (100 + i)) for i in range(3)]


@pytest.fixture
def executable() -> str:
    try:
        return wrk.executable()
    except SystemExit as missing:
        pytest.skip(str(missing))


def test_multipart_is_a_form_upload_of_the_photo_in_field_file() -> None:
    content_type, body = wrk.multipart(PHOTOS[1])

    kind, options = parse_options_header(content_type)
    boundary = options[b"boundary"]
    assert kind == b"multipart/form-data"
    head, _, rest = body.partition(b"\r\n\r\n")
    assert head.split(b"\r\n") == [
        b"--" + boundary,
        b'Content-Disposition: form-data; name="file"; filename="photo1.jpg"',
        b"Content-Type: image/jpeg",
    ]
    assert rest == PHOTOS[1].data + b"\r\n--" + boundary + b"--\r\n"


def test_a_request_is_a_whole_http_post_with_its_length_and_headers() -> None:
    request = wrk.http_request("http://127.0.0.1:8080", "/predict", {"X-API-Key": "k"}, ("image/jpeg", b"abc"))

    head, _, body = request.partition(b"\r\n\r\n")
    assert head.decode().split("\r\n") == [
        "POST /predict HTTP/1.1",
        "Host: 127.0.0.1:8080",
        "Content-Type: image/jpeg",
        "Content-Length: 3",
        "X-API-Key: k",
    ]
    assert body == b"abc"


def test_a_run_cycles_through_every_photo_and_reports_statuses_latency_and_its_cpu(
    executable: str, tmp_path: Path
) -> None:
    with serving((201, 503)) as (url, received):
        requests = wrk.write_requests(tmp_path / "requests", url, "/up", {"X-API-Key": "k"}, PHOTOS, wrk.multipart)
        run = wrk.run(requests, concurrency=2, seconds=1)

    assert run.requests == sum(run.statuses.values()) >= len(PHOTOS)
    assert set(run.statuses) == {"201", "503"} and abs(run.statuses["201"] - run.statuses["503"]) <= 2
    assert run.socket_errors == {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    assert 0.9 < run.duration_s < 1.5
    assert run.latency_ms["p50_ms"] is not None and 0 < run.latency_ms["p50_ms"] <= run.latency_ms["p99_ms"]
    assert 0 < run.cpu_s < 1.5
    assert {wrk.multipart(photo)[1] for photo in PHOTOS} == set(received.bodies)  # wrk may stop mid-request
    assert {headers["X-API-Key"] for headers in received.headers} == {"k"}


def test_connections_closed_unanswered_are_read_errors_not_answers(executable: str, tmp_path: Path) -> None:
    with serving((201, 0)) as (url, _):
        requests = wrk.write_requests(tmp_path / "requests", url, "/up", {}, PHOTOS, wrk.multipart)
        run = wrk.run(requests, concurrency=1, seconds=1)

    assert set(run.statuses) == {"201"} and run.requests == run.statuses["201"] > 0
    assert run.socket_errors["read"] > 0


def test_a_server_that_is_not_there_ends_the_benchmark_with_wrk_s_words(executable: str, tmp_path: Path) -> None:
    with serving() as (url, _):
        pass  # closed: nothing listens on its port any more
    requests = wrk.write_requests(tmp_path / "requests", url, "/up", {}, PHOTOS, wrk.multipart)

    with pytest.raises(SystemExit, match="unable to connect"):
        wrk.run(requests, concurrency=1, seconds=1)
