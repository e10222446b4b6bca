"""The API's docs in a browser that can reach nothing but the server: Swagger UI and ReDoc render the API."""

from typing import TYPE_CHECKING

from tests.support.browser import TIMEOUT_MS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Route

# ReDoc's "API docs by Redocly" badge in the menu's foot: its one picture from elsewhere, not in fastapi-offline's
# files; offline the badge shows without its logo, and the docs are whole.
REDOC_BADGE_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def test_the_docs_render_with_only_the_server_reachable(browser: "Browser", base_url: str) -> None:
    context = browser.new_context(base_url=base_url)
    context.set_default_timeout(TIMEOUT_MS)
    elsewhere: list[str] = []

    def only_the_server(route: "Route") -> None:
        if route.request.url.startswith(base_url + "/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_server)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto("/docs")
        page.locator(".opblock-summary-path", has_text="/predictions/{prediction_id}/overlay.png").wait_for()
        assert page.locator(".opblock").count() >= 10
        page.goto("/redoc")
        page.get_by_text("/predictions/{prediction_id}/overlay.png").first.wait_for()
    finally:
        context.close()
    assert errors == []
    assert set(elsewhere) <= {REDOC_BADGE_LOGO}
