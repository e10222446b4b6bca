"""RequestMetrics: every HTTP request is counted under its route template and final status, errors included."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from camserve.service.metrics import Metrics, RequestMetrics


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def client(metrics: Metrics) -> TestClient:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("unhandled")

    app.add_middleware(RequestMetrics, metrics=metrics)
    return TestClient(app, raise_server_exceptions=False)


def count(metrics: Metrics, method: str, route: str, status: str) -> float:
    value = metrics.registry.get_sample_value(
        "camserve_http_requests_total", {"method": method, "route": route, "status": status}
    )
    return value or 0.0


def test_requests_are_counted_by_template_and_status(client: TestClient, metrics: Metrics) -> None:
    for item_id in (1, 2, 3):
        assert client.get(f"/items/{item_id}").status_code == 200
    assert client.get("/items/not-a-number").status_code == 422
    assert count(metrics, "GET", "/items/{item_id}", "200") == 3
    assert count(metrics, "GET", "/items/{item_id}", "422") == 1
    latency = metrics.registry.get_sample_value(
        "camserve_http_request_seconds_count", {"method": "GET", "route": "/items/{item_id}"}
    )
    assert latency == 4


def test_unmatched_paths_share_one_label(client: TestClient, metrics: Metrics) -> None:
    client.get("/nowhere/1")
    client.get("/nowhere/2")
    assert count(metrics, "GET", "unmatched", "404") == 2


def test_an_unhandled_error_is_counted_as_500(client: TestClient, metrics: Metrics) -> None:
    assert client.get("/boom").status_code == 500
    assert count(metrics, "GET", "/boom", "500") == 1
