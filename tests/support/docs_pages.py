"""What makes the API's docs pages work offline: each page, and everything it loads, comes from the app itself."""

import re

import httpx
from fastapi.testclient import TestClient

DOCS_PAGES = ("/docs", "/redoc")
# What each page loads: its scripts, styles and icon (src, href) and the schema (Swagger's url, ReDoc's spec-url).
REFERENCE = re.compile(r"""(?:src|href|spec-url)="([^"]+)"|\burl: '([^']+)'""")
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png", ".json": "application/json"}


def assert_docs_load_only_local_files(client: httpx.Client | TestClient) -> set[str]:
    """Each page answers with HTML that names no other host, and each file it loads answers 200, with its type
    and nosniff. Returns the files, so a caller can check more of them."""
    loaded: set[str] = set()
    for page in DOCS_PAGES:
        html = client.get(page)
        assert html.status_code == 200, (page, html.text)
        assert html.headers["content-type"].startswith("text/html")
        assert "://" not in html.text, page  # no CDN, no web font: nothing from elsewhere
        references = {first or second for first, second in REFERENCE.findall(html.text)}
        assert any(url.endswith(".js") for url in references), (page, references)
        loaded |= references
    for url in sorted(loaded):
        assert url.startswith("/") and not url.startswith("//"), url
        answer = client.get(url)
        assert answer.status_code == 200, (url, answer.text[:200])
        suffix = url[url.rfind(".") :]
        assert answer.headers["content-type"].startswith(CONTENT_TYPES[suffix]), (url, answer.headers)
        assert answer.headers.get_list("x-content-type-options") == ["nosniff"], url
    return loaded
