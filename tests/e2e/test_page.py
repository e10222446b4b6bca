"""The web page, driven like a person would: upload, read the answer, tune the overlay, come back later."""

import base64
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from PIL import Image

from tests.support.browser import ARTIFACTS, playwright_api
from tests.support.photos import CHELSEA, encode_quickly
from tests.support.servers import serve_camserve

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Request, Route

expect = playwright_api().expect  # skips this module without Playwright and Chromium (fails in CI)

PHONE = {"width": 390, "height": 844}


def _is_upload(request: "Request") -> bool:
    return request.method == "POST" and urlparse(request.url).path == "/predictions"


def _overlay_query(request: "Request") -> dict[str, str] | None:
    """The query of an overlay request, or None for any other request."""
    url = urlparse(request.url)
    if not url.path.endswith("/overlay.png"):
        return None
    return {key: values[0] for key, values in parse_qs(url.query).items()}


def upload_chelsea(page: "Page") -> dict[str, Any]:
    """Choose tests/chelsea.png in the file input; returns the API's answer once the page shows it."""
    with page.expect_response(lambda response: _is_upload(response.request)) as answer:
        page.locator("#file").set_input_files(CHELSEA)
    assert answer.value.status == 201
    result: dict[str, Any] = answer.value.json()
    expect(page.locator("#label")).to_have_text(result["label"])
    return result


def overlay_size(page: "Page") -> list[int]:
    """Wait until the overlay picture has loaded; its natural width and height."""
    overlay = page.locator("#overlay")
    page.wait_for_function("image => image.complete && image.naturalWidth > 0", arg=overlay.element_handle())
    return overlay.evaluate("image => [image.naturalWidth, image.naturalHeight]")


def test_upload_shows_label_probabilities_and_overlay(page: "Page") -> None:
    result = upload_chelsea(page)
    # The page shows whatever the API answered; the label itself is checked in tests/service/test_pipeline.py.
    expect(page.locator("#label")).to_have_text(result["label"])
    expect(page.locator("#untrained")).to_be_hidden()
    expect(page.locator("#status")).to_contain_text(f"The model says {result['label']}")
    for name, probability in result["probabilities"].items():
        expect(page.locator("#bars li", has_text=name)).to_contain_text(f"{probability * 100:.1f}%")
    assert overlay_size(page) == [451, 300]
    overlay_src = page.locator("#overlay").get_attribute("src")
    assert overlay_src is not None
    assert overlay_src.startswith(result["links"]["overlay"] + "?")
    expect(page.locator("#download")).to_have_attribute("href", overlay_src)
    expect(page.locator("#photo")).to_have_attribute("src", re.compile(r"^blob:"))


def test_a_zoomed_answer_is_said_and_its_box_outlined(page: "Page") -> None:
    """Chelsea's heat is concentrated enough for the served zoom rule: the page says the model looked closer,
    and asks for the overlay with the box outlined; a plain answer says nothing and draws no box."""
    page.route("**/predictions", lambda route: route.continue_(url=route.request.url + "?zoom=true"))
    result = upload_chelsea(page)
    assert result["zoom"]["used"] is True
    expect(page.locator("#zoom-note")).to_be_visible()
    expect(page.locator("#overlay")).to_have_attribute("src", re.compile(r"[?&]box=true"))
    assert overlay_size(page) == [451, 300]
    page.unroute("**/predictions")
    upload_chelsea(page)
    expect(page.locator("#zoom-note")).to_be_hidden()
    src = page.locator("#overlay").get_attribute("src")
    assert src is not None and "box=" not in src


def test_a_person_can_ask_the_second_model(page: "Page") -> None:
    """The server serves the CIFAR-10 model beside the default: the page offers it, sends the choice, shows
    ten classes and a map choice for each, says which model answered, and the history remembers it."""
    choice = page.get_by_label("Ask")
    expect(page.locator("#model-choice")).to_be_visible()
    expect(choice).to_have_value("camserve-resnet34")
    expect(page.locator("#model-classes")).to_have_text("It answers one of: cat, dog.")
    choice.select_option("camserve-lesson7-resnet2")
    expect(page.locator("#model-classes")).to_contain_text("airplane, automobile, bird")
    with page.expect_response(lambda response: _is_upload(response.request)) as answer:
        page.locator("#file").set_input_files(CHELSEA)
    assert parse_qs(urlparse(answer.value.request.url).query) == {"model": ["camserve-lesson7-resnet2"]}
    result = answer.value.json()
    expect(page.locator("#label")).to_have_text(result["label"])
    expect(page.locator("#answered-by")).to_have_text("Answered by camserve-lesson7-resnet2 1.0.0.")
    expect(page.locator("#bars li")).to_have_count(10)
    expect(page.locator("#maps input")).to_have_count(11)
    with page.expect_request(lambda request: (_overlay_query(request) or {}).get("class") == "airplane"):
        page.get_by_label("Only “airplane”").check()
    expect(page.locator("#history li").first).to_contain_text("camserve-lesson7-resnet2")
    overlay_size(page)


# A drop or a paste carries a DataTransfer; build one holding the photo and fire the event the browser would.
DELIVER_FILE = """([kind, data]) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], "chelsea.png", { type: "image/png" }));
  const event = kind === "drop"
    ? new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true })
    : new ClipboardEvent("paste", { clipboardData: transfer, bubbles: true, cancelable: true });
  document.querySelector(kind === "drop" ? "#dropzone" : "body").dispatchEvent(event);
}"""


@pytest.mark.parametrize("kind", ["drop", "paste"])
def test_a_dropped_or_pasted_photo_is_uploaded(page: "Page", kind: str) -> None:
    photo = base64.b64encode(CHELSEA.read_bytes()).decode()
    with page.expect_response(lambda response: _is_upload(response.request)) as answer:
        page.evaluate(DELIVER_FILE, [kind, photo])
    assert answer.value.status == 201
    expect(page.locator("#label")).to_have_text(answer.value.json()["label"])
    assert overlay_size(page) == [451, 300]


def test_a_heic_the_browser_cannot_show_is_shown_as_the_server_drew_it(page: "Page") -> None:
    """Chromium shows no HEIC: the file input offers .heic files, and "Your photo" falls back to the server's
    picture of it (the overlay at opacity 0) instead of a broken image."""
    assert ".heic" in (page.locator("#file").get_attribute("accept") or "")
    with Image.open(CHELSEA) as chelsea:
        heic = encode_quickly(chelsea.convert("RGB"), "HEIF")
    with page.expect_response(lambda response: _is_upload(response.request)) as answer:
        page.locator("#file").set_input_files(files=[{"name": "cat.heic", "mimeType": "image/heic", "buffer": heic}])
    assert answer.value.status == 201
    expect(page.locator("#photo")).to_have_attribute("src", re.compile(r"/overlay\.png\?alpha=0&"))
    photo = page.locator("#photo")
    page.wait_for_function("image => image.complete && image.naturalWidth > 0", arg=photo.element_handle())
    assert photo.evaluate("image => [image.naturalWidth, image.naturalHeight]") == [451, 300]


def test_busy_state_while_waiting(page: "Page") -> None:
    held: list[Route] = []
    page.route("**/predictions", lambda route: held.append(route))
    page.locator("#file").set_input_files(CHELSEA)
    expect(page.locator("#main")).to_have_attribute("aria-busy", "true")
    expect(page.locator("#busy")).to_be_visible()
    expect(page.locator("#alpha")).to_be_disabled()
    expect(page.locator("#file")).to_be_disabled()
    page.screenshot(path=ARTIFACTS / "busy-state.png")
    assert held, "the upload never reached the network"
    held[0].continue_()
    expect(page.locator("#label")).to_have_text(re.compile(r"^(cat|dog)$"))
    expect(page.locator("#main")).to_have_attribute("aria-busy", "false")
    expect(page.locator("#file")).to_be_enabled()


def test_slider_colormap_and_class_switch_change_the_overlay(page: "Page") -> None:
    upload_chelsea(page)
    overlay_size(page)
    with page.expect_request(lambda request: (_overlay_query(request) or {}).get("alpha") == "0.4") as moved:
        page.locator("#alpha").focus()
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("ArrowLeft")
    expect(page.locator("#alpha-value")).to_have_text("40%")
    assert "class" not in (_overlay_query(moved.value) or {})

    with page.expect_request(lambda request: (_overlay_query(request) or {}).get("colormap") == "viridis"):
        page.get_by_label("Colours").select_option("viridis")

    with page.expect_request(lambda request: (_overlay_query(request) or {}).get("class") == "dog") as switched:
        page.get_by_label("Only “dog”").check()
    assert _overlay_query(switched.value) == {"alpha": "0.4", "colormap": "viridis", "class": "dog"}
    expect(page.locator("#overlay")).to_have_attribute("src", re.compile(r"class=dog"))
    expect(page.locator("#download")).to_have_attribute("href", re.compile(r"class=dog"))
    assert overlay_size(page) == [451, 300]


def test_a_text_file_gets_a_plain_error(page: "Page") -> None:
    with page.expect_response(lambda response: _is_upload(response.request)) as answer:
        page.locator("#file").set_input_files(
            files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a photo at all"}]
        )
    assert answer.value.status == 415
    expect(page.locator("#error")).to_have_text(
        "That file is not an image we can read. Please choose a JPEG, PNG, WebP, HEIC or AVIF photo."
    )
    expect(page.locator("#result")).to_be_hidden()
    expect(page.locator("#file")).to_be_enabled()


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (503, "The server is busy right now. Please try again in a moment."),
        (413, "That photo is too large. Please choose a smaller one (fewer pixels or a smaller file)."),
        (None, "Could not reach the server. Check your connection and try again."),
    ],
    ids=["busy", "too-large", "network-failure"],
)
def test_api_failures_get_plain_messages(page: "Page", status: int | None, message: str) -> None:
    def answer(route: "Route") -> None:
        if status is None:
            route.abort("connectionrefused")
        else:
            route.fulfill(status=status, json={"detail": "server words"})

    page.route("**/predictions", answer)
    page.locator("#file").set_input_files(CHELSEA)
    expect(page.locator("#error")).to_have_text(message)
    expect(page.locator("#main")).to_have_attribute("aria-busy", "false")


def test_history_survives_a_reload_and_reopens(page: "Page") -> None:
    result = upload_chelsea(page)
    page.reload()
    expect(page.locator("#result")).to_be_hidden()
    entry = page.locator("#history button").first
    expect(entry).to_contain_text(result["label"])
    expect(entry).to_contain_text("chelsea.png")
    with page.expect_response(f"**/predictions/{result['id']}") as reopened:
        entry.click()
    assert reopened.value.status == 200
    expect(page.locator("#label")).to_have_text(result["label"])
    expect(page.locator("#overlay")).to_have_attribute("src", re.compile(re.escape(result["links"]["overlay"])))
    # No local file after a reload: the photo is the overlay at opacity 0.
    expect(page.locator("#photo")).to_have_attribute("src", re.compile(r"alpha=0(&|$)"))
    assert overlay_size(page) == [451, 300]


def test_fits_a_phone_screen(page: "Page") -> None:
    page.set_viewport_size(PHONE)
    upload_chelsea(page)
    overlay_size(page)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    box = page.locator("#overlay").bounding_box()
    assert box is not None
    assert box["width"] <= PHONE["width"]


def test_page_is_self_contained_and_locked_down(base_url: str) -> None:
    response = httpx.get(base_url + "/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"].startswith("default-src 'self'; img-src 'self' blob: data:")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert "http://" not in response.text
    assert "https://" not in response.text
    for asset in ("app.js", "api.js", "history.js", "app.css"):
        served = httpx.get(f"{base_url}/static/{asset}")
        assert served.status_code == 200, asset
        assert served.headers["x-content-type-options"] == "nosniff"


def test_a_recent_photo_can_be_deleted_from_the_server(page: "Page", base_url: str) -> None:
    result = upload_chelsea(page)
    delete = page.get_by_role("button", name="Delete chelsea.png from the server")
    with page.expect_response(lambda response: response.request.method == "DELETE") as deleted:
        delete.click()
    assert deleted.value.status == 204
    expect(page.locator("#history li")).to_have_count(0)
    expect(page.locator("#result")).to_be_hidden()
    assert httpx.get(f"{base_url}/predictions/{result['id']}").status_code == 404


def test_the_page_says_how_long_photos_are_kept(page: "Page") -> None:
    expect(page.locator("#retention")).to_contain_text("kept on the server until space runs out")


@pytest.fixture(scope="module")
def keep_nothing_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {"CAMSERVE_STORE_PHOTOS": "false"}
    with serve_camserve(tmp_path_factory.mktemp("keep-nothing") / "store.sqlite3", env=env) as base:
        yield base


def test_a_server_that_keeps_nothing_answers_with_the_overlay_inline(browser: "Browser", keep_nothing_url: str) -> None:
    context = browser.new_context(base_url=keep_nothing_url)
    try:
        page = context.new_page()
        page.goto("/")
        expect(page.locator("#retention")).to_contain_text("keeps nothing")
        with page.expect_response(lambda response: _is_upload(response.request)) as answer:
            page.locator("#file").set_input_files(CHELSEA)
        assert answer.value.status == 200
        assert "store=false" in answer.value.request.url
        expect(page.locator("#label")).to_have_text("cat")
        expect(page.locator("#overlay")).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
        assert overlay_size(page) == [451, 300]
        expect(page.locator("#controls")).to_be_hidden()
        expect(page.locator("#history li")).to_have_count(0)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "keep-nothing.png", full_page=True)
    finally:
        context.close()
