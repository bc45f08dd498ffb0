"""The page as a whole: served by the app, no outside resources, phone width, labels on every control."""

from __future__ import annotations

from typing import Any

import httpx

from tests.browser.strokes import Finger

UNLABELLED_CONTROLS = """() => [...document.querySelectorAll("input, button, select, textarea, canvas")]
    .filter(c => !(c.labels && c.labels.length) && !c.getAttribute("aria-label") && !c.textContent.trim())
    .map(c => c.id || c.outerHTML.slice(0, 60))"""


def test_page_and_assets_come_from_the_app_only(browser: Any, server_url: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    page.goto(f"{server_url}/")
    page.wait_for_selector("#f-LSTAT")
    context.close()
    assert {u for u in urls if not u.startswith((server_url, "data:"))} == set()
    assert any(u.endswith("/static/style.css") for u in urls)
    assert (
        httpx.get(f"{server_url}/static/app.js")
        .headers["content-type"]
        .startswith(("text/javascript", "application/javascript"))
    )


def test_every_control_has_a_label(page: Any) -> None:
    assert page.evaluate(UNLABELLED_CONTROLS) == []


def test_phone_width_has_no_sideways_scrolling(phone_page: Any, screenshot: Any) -> None:
    page = phone_page
    page.tap("#price-submit")
    page.wait_for_selector("#price-result:not([hidden])")
    page.locator("#digit-canvas").scroll_into_view_if_needed()
    finger = Finger(page)
    finger.draw_digit(7)
    finger.tap("#digit-recognise")
    page.wait_for_selector("#digit-result:not([hidden])")
    assert page.inner_text("#digit-value") == "7"  # drawn with a finger
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    canvas = page.locator("#digit-canvas").bounding_box()
    assert canvas["x"] >= 0 and canvas["x"] + canvas["width"] <= 375
    assert page.locator("#digit-recognise").bounding_box()["height"] >= 44  # a finger-sized target
    screenshot(page, "phone-375")


def test_both_models_are_named_with_their_test_scores(page: Any, api: httpx.Client) -> None:
    boston, mnist = api.get("/models/boston").json(), api.get("/models/mnist").json()
    assert f"Model boston {boston['version']}" in page.inner_text("#price-model")
    accuracy = f"{mnist['metrics']['test_accuracy'] * 100:.1f}% right"
    page.wait_for_function(
        "t => document.getElementById('digit-model').textContent.includes(t)", arg=accuracy
    )
