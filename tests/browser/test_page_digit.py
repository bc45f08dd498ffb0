"""The digit panel in a real browser: drawn digits, uploaded and dropped files, an API error."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw

from tests.browser.strokes import draw_digit


def wait_for_answer(page: Any) -> int:
    page.wait_for_selector("#digit-result:not([hidden])")
    return int(page.inner_text("#digit-value"))


def digit_image(digit: int, invert: bool = False) -> bytes:
    """A 140x140 PNG of a digit drawn with thick lines (dark on light, or light on dark)."""
    paper, ink = (0, 255) if invert else (255, 0)
    img = Image.new("L", (140, 140), paper)
    draw = ImageDraw.Draw(img)
    if digit == 4:
        draw.line([(85, 20), (30, 90), (110, 90)], fill=ink, width=12, joint="curve")
        draw.line([(85, 20), (85, 125)], fill=ink, width=12)
    elif digit == 1:
        draw.line([(72, 18), (68, 122)], fill=ink, width=12)
    else:
        raise ValueError(digit)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("digit", [1, 7, 0, 4])  # the 4 touches the canvas's top and bottom
def test_drawn_digit_is_recognised(page: Any, digit: int, screenshot: Any) -> None:
    draw_digit(page, digit)
    page.click("#digit-recognise")
    assert wait_for_answer(page) == digit
    assert page.locator("#digit-bars .bar-row").count() == 10
    assert page.get_attribute("#digit-bars .bar-row.best", "data-digit") == str(digit)
    # The 28x28 image the network saw, shown scaled up.
    seen = page.locator("#digit-seen")
    assert seen.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [28, 28]
    assert seen.evaluate("img => getComputedStyle(img).imageRendering") == "pixelated"
    screenshot(page, f"digit-drawn-{digit}")
    page.click("#digit-clear")
    assert page.locator("#digit-result").is_hidden()


def test_uploaded_file_is_recognised(page: Any, api: httpx.Client, tmp_path: Path) -> None:
    path = tmp_path / "four.png"
    path.write_bytes(digit_image(4))
    page.set_input_files("#digit-file", str(path))
    assert wait_for_answer(page) == 4
    expected = api.post("/predict/digit", files={"file": ("four.png", path.read_bytes(), "image/png")}).json()
    confidence = expected["confidence"]
    shown = "> 99.9%" if 0.9995 <= confidence < 1 else f"{confidence * 100:.1f}%"
    assert page.inner_text("#digit-confidence") == shown
    assert "four.png" in page.inner_text("#digit-meta")


def test_dropped_file_is_recognised(page: Any) -> None:
    data = base64.b64encode(digit_image(1, invert=True)).decode()
    transfer = page.evaluate_handle(
        """data => {
            const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], "one.png", { type: "image/png" }));
            return dt;
        }""",
        data,
    )
    page.dispatch_event("#digit-drop", "drop", {"dataTransfer": transfer})
    assert wait_for_answer(page) == 1


def test_api_error_is_shown_next_to_the_upload(
    page: Any, api: httpx.Client, tmp_path: Path, screenshot: Any
) -> None:
    # A file named .png that is not an image: the page cannot tell, the service can.
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a PNG")
    expected = api.post("/predict/digit", files={"file": ("broken.png", path.read_bytes(), "image/png")})
    assert 400 <= expected.status_code < 500
    message = expected.json()["error"]["message"]

    page.set_input_files("#digit-file", str(path))
    error = page.locator("#digit-error")
    error.wait_for(state="visible")
    assert message[0].upper() + message[1:] in error.inner_text()
    assert f"HTTP {expected.status_code}" in error.inner_text()
    assert page.locator("#digit-result").is_hidden()
    screenshot(page, "digit-api-error")


def test_recognise_with_an_empty_canvas_says_so(page: Any) -> None:
    page.click("#digit-recognise")
    assert "Draw a digit first" in page.inner_text("#digit-error")
