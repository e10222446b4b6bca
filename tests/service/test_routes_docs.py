"""/docs and /redoc work offline: their scripts, styles and icon are served by the app, from fastapi-offline's
files, also when an API key guards the API, and under a proxy's path prefix."""

from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import SecretStr

from camserve.models.runtimes.torch import TorchPredictor
from camserve.service.app import create_app
from camserve.service.settings import Settings
from tests.support.docs_pages import assert_docs_load_only_local_files
from tests.support.servers import post


def test_the_docs_load_only_files_the_app_serves(client: TestClient) -> None:
    loaded = assert_docs_load_only_local_files(client)
    assert {
        "/openapi.json",
        "/docs/assets/swagger-ui-bundle.js",
        "/docs/assets/swagger-ui.css",
        "/docs/assets/redoc.standalone.js",
        "/docs/assets/favicon.png",
    } == loaded
    swagger = client.get("/docs/assets/swagger-ui-bundle.js")
    assert "SwaggerUIBundle" in swagger.text
    assert swagger.headers["cache-control"] == "no-cache"  # revalidated, so a new release reaches browsers


def test_the_docs_need_no_api_key(tmp_path: Path, red_patch_predictor: TorchPredictor) -> None:
    settings = Settings(store_path=tmp_path / "s.sqlite3", api_key=SecretStr("sesame"))
    with TestClient(create_app(settings, red_patch_predictor)) as client:
        assert post(client, b"not even a photo").status_code == 401  # the key is on
        assert_docs_load_only_local_files(client)


def test_the_docs_name_their_files_under_the_proxy_s_prefix(client: TestClient) -> None:
    prefixed = TestClient(client.app, root_path="/camserve").get("/camserve/docs").text
    assert 'src="/camserve/docs/assets/swagger-ui-bundle.js"' in prefixed
    assert "url: '/camserve/openapi.json'" in prefixed
