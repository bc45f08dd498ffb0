"""The house-price form in a real browser: same price as the API, warnings, validation, errors."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx

from models.features import BOSTON_FEATURES


def as_dollars(usd: float) -> str:
    """What the page shows: whole dollars, rounded half away from zero, with thousands separators."""
    whole = int(Decimal(repr(usd)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return f"${whole:,}"


def fill_form(page: Any, features: dict[str, float]) -> None:
    for name, value in features.items():
        page.fill(f"#f-{name}", repr(value))


def estimate(page: Any) -> str:
    """Press the button and return the price the page shows."""
    page.evaluate("document.getElementById('price-result').hidden = true")
    page.click("#price-submit")
    page.wait_for_selector("#price-result:not([hidden])")
    return str(page.inner_text("#price-value"))


def a_changed_example(api: httpx.Client) -> dict[str, float]:
    """The card's second example with two values changed, so the page cannot have cached anything."""
    card = api.get("/models/boston").json()
    features = {k: float(v) for k, v in card["examples"][1 % len(card["examples"])]["features"].items()}
    features["RM"] = 6.5
    features["LSTAT"] = 7.25
    return features


def test_form_gives_the_price_the_api_gives(page: Any, api: httpx.Client, screenshot: Any) -> None:
    features = a_changed_example(api)
    fill_form(page, features)
    shown = estimate(page)
    expected = api.post("/predict/price?explain=true", json=features).json()

    assert shown == as_dollars(expected["price_usd"])
    assert float(page.get_attribute("#price-value", "data-price-usd")) == expected["price_usd"]
    # One bar per feature, in the order of the largest contribution first.
    labels = page.locator("#price-bars .bar-label").all_inner_texts()
    assert sorted(labels) == sorted(BOSTON_FEATURES)
    contributions = expected["explanation"]["contributions"]
    assert labels[0] == max(contributions, key=lambda k: abs(contributions[k]))
    screenshot(page, "price-desktop")


def test_form_starts_with_a_real_row_and_cycles_examples(page: Any, api: httpx.Client) -> None:
    examples = api.get("/models/boston").json()["examples"]
    first = {name: float(page.input_value(f"#f-{name}")) for name in BOSTON_FEATURES}
    assert first == {k: float(v) for k, v in examples[0]["features"].items()}
    label = page.inner_text("label[for=f-RM]")
    assert "RM" in label and "average rooms per dwelling" in label
    page.click("#price-example")
    second = {name: float(page.input_value(f"#f-{name}")) for name in BOSTON_FEATURES}
    assert second == {k: float(v) for k, v in examples[1 % len(examples)]["features"].items()}


def test_api_warnings_are_shown(page: Any, api: httpx.Client) -> None:
    # CRIM 95 is a valid crime rate but above every town in the training data.
    features = {**a_changed_example(api), "CRIM": 95.0}
    fill_form(page, features)
    estimate(page)
    expected = api.post("/predict/price", json=features).json()["warnings"]
    assert expected, "the API should warn about a value outside the training range"
    assert page.locator("#price-warnings li").all_inner_texts() == expected


def test_page_validation_stops_bad_values_before_the_api(page: Any) -> None:
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if "/predict/price" in r.url else None)
    page.fill("#f-RM", "-1")
    page.fill("#f-CHAS", "0.5")
    page.click("#price-submit")
    assert "at least 0" in page.inner_text("#f-RM-error")
    assert "whole number" in page.inner_text("#f-CHAS-error")
    assert page.get_attribute("#f-RM", "aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "f-CHAS"  # first bad field, in form order
    assert sent == []


def test_network_failure_is_reported_near_the_form(page: Any, screenshot: Any) -> None:
    page.route("**/predict/price*", lambda route: route.abort("connectionrefused"))
    page.click("#price-submit")
    error = page.locator("#price-error")
    error.wait_for(state="visible")
    assert "Could not reach the service" in error.inner_text()
    screenshot(page, "price-network-error")


def test_keyboard_enter_submits_the_form(page: Any) -> None:
    page.focus("#f-LSTAT")
    page.keyboard.press("Enter")
    page.wait_for_selector("#price-result:not([hidden])")
    assert page.inner_text("#price-value").startswith("$")


def test_api_rejection_is_shown_at_the_field(page: Any, api: httpx.Client, screenshot: Any) -> None:
    # 1e300 passes the page's checks (TAX has no upper bound) but overflows the model's scaling.
    features = {**a_changed_example(api), "TAX": 1e300}
    answer = api.post("/predict/price", json=features)
    assert answer.status_code == 422
    message = answer.json()["error"]["message"]

    fill_form(page, features)
    page.click("#price-submit")
    error = page.locator("#price-error")
    error.wait_for(state="visible")
    assert message[0].upper() + message[1:] in error.inner_text()
    assert "HTTP 422" in error.inner_text()
    assert page.inner_text("#f-TAX-error").startswith("The service rejected TAX")
    assert page.get_attribute("#f-TAX", "aria-invalid") == "true"
    assert page.locator("#price-result").is_hidden()
    screenshot(page, "price-api-error")
