"""The page against a server that needs an API token: it says so, then sends what the user enters."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import API_TOKEN
from tests.browser.strokes import draw_digit


def estimate(page: Any) -> None:
    page.evaluate("document.getElementById('price-error').hidden = true")
    page.click("#price-submit")


def use_token(page: Any, token: str) -> None:
    page.fill("#api-token", token)
    page.click("#token-save")


def test_without_a_token_the_page_says_where_it_goes(token_page: Any) -> None:
    page = token_page
    assert not page.locator("#token-box").evaluate("d => d.open")  # closed until needed
    estimate(page)
    page.wait_for_selector("#price-error:not([hidden])")
    assert "needs an API token" in page.inner_text("#price-error")
    assert "HTTP 401" in page.inner_text("#price-error")
    assert page.locator("#token-box").evaluate("d => d.open")  # opened to show where it goes
    assert page.locator("#price-result").is_hidden()


def test_a_wrong_token_is_refused_and_the_right_one_prices(token_page: Any, token_server_url: str) -> None:
    page = token_page
    page.click("#token-box summary")
    use_token(page, "not-the-token")
    estimate(page)
    page.wait_for_selector("#price-error:not([hidden])")
    assert "did not accept this API token" in page.inner_text("#price-error")
    assert "HTTP 403" in page.inner_text("#price-error")

    sent: list[str | None] = []  # the Authorization header of each prediction the page sends
    page.on("request", lambda r: "/predict/" in r.url and sent.append(r.headers.get("authorization")))
    use_token(page, API_TOKEN)
    assert "A token is set" in page.inner_text("#token-state")
    page.evaluate("document.getElementById('price-result').hidden = true")
    estimate(page)
    page.wait_for_selector("#price-result:not([hidden])")
    assert page.locator("#price-error").is_hidden()
    assert sent == [f"Bearer {API_TOKEN}"]
    assert page.inner_text("#price-value").startswith("$")


def test_the_token_is_kept_for_the_tab_and_sent_with_a_digit(token_page: Any) -> None:
    page = token_page
    page.click("#token-box summary")
    use_token(page, API_TOKEN)
    page.reload()
    page.wait_for_selector("#f-LSTAT")
    assert page.input_value("#api-token") == API_TOKEN  # sessionStorage, this tab only
    draw_digit(page, 1)
    page.click("#digit-recognise")
    page.wait_for_selector("#digit-result:not([hidden])")
    assert page.locator("#digit-error").is_hidden()

    page.click("#token-forget")
    assert "No token" in page.inner_text("#token-state")
    page.click("#digit-recognise")
    page.wait_for_selector("#digit-error:not([hidden])")
    assert "HTTP 401" in page.inner_text("#digit-error")
