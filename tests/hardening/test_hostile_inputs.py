"""Hostile and odd inputs against a live server: each gets its documented status, fast, and the
service stays ready. The time bound is a hang guard, not a benchmark."""

from __future__ import annotations

import io
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.hardening import hostile_payloads as hp
from tests.hardening.test_model_faults import PRICE

HANG_GUARD_S = 5.0
JSON = {"content-type": "application/json"}


@dataclass(frozen=True)
class Hostile:
    """One hostile request: where it goes, how to build it (httpx kwargs), which status it must get."""

    path: str
    build: Callable[[], dict[str, Any]]
    status: int


def upload(name: str, data: Callable[[], bytes], mime: str = "image/png", field: str = "file") -> Callable:
    return lambda: {"files": [(field, (name, data(), mime))]}


def raw_json(text: Callable[[], str | bytes], headers: dict[str, str] = JSON) -> Callable:
    return lambda: {"content": text(), "headers": headers}


def price_with(value: str, name: str = "CRIM") -> Callable:
    """The valid price body with one value replaced by raw JSON text (keeps 1e308, -0.0 exact)."""
    body = {**PRICE, name: "@@"}
    return raw_json(lambda: json.dumps(body).replace('"@@"', value))


def digit_png() -> bytes:
    return hp.encode(hp.digit_image(), "PNG")


def digit_jpeg() -> bytes:
    return hp.encode(hp.digit_image(), "JPEG", quality=90)


def digit_heic() -> bytes:
    from pillow_heif import from_pillow

    buffer = io.BytesIO()
    from_pillow(hp.digit_image().convert("RGB")).save(buffer, quality=90)
    return buffer.getvalue()


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


DIGIT_CASES: dict[str, Hostile] = {
    "random_bytes_png": Hostile("/predict/digit", upload("noise.png", hp.random_bytes), 415),
    "empty_file": Hostile("/predict/digit", upload("empty.png", lambda: b""), 422),
    "truncated_png": Hostile("/predict/digit", upload("t.png", lambda: hp.truncated(digit_png())), 422),
    "truncated_jpeg": Hostile(
        "/predict/digit", upload("t.jpg", lambda: hp.truncated(digit_jpeg()), "image/jpeg"), 422
    ),
    "truncated_heic": Hostile("/predict/digit", upload("t.heic", lambda: hp.truncated(digit_heic())), 422),
    "png_header_100k_x_100k": Hostile(
        "/predict/digit", upload("bomb.png", lambda: hp.png_claiming(100_000, 100_000)), 413
    ),
    "png_bomb_64_megapixels": Hostile(
        "/predict/digit", upload("bomb.png", lambda: hp.png_claiming(8000, 8000, rows=8000)), 413
    ),
    "over_upload_limit_11mb": Hostile(
        "/predict/digit", upload("big.png", lambda: digit_png() + b"\0" * (11 << 20)), 413
    ),
    "gif_1000_frames": Hostile("/predict/digit", upload("a.gif", hp.animated_gif, "image/gif"), 200),
    "png_16_bit": Hostile("/predict/digit", upload("d16.png", hp.sixteen_bit_png), 200),
    "jpeg_cmyk": Hostile(
        "/predict/digit",
        upload("cmyk.jpg", lambda: hp.encode(hp.digit_image().convert("CMYK"), "JPEG"), "image/jpeg"),
        200,
    ),
    "png_palette": Hostile(
        "/predict/digit", upload("p.png", lambda: hp.encode(hp.digit_image().convert("P"), "PNG")), 200
    ),
    "png_two_colour": Hostile(
        "/predict/digit", upload("1.png", lambda: hp.encode(hp.digit_image().convert("1"), "PNG")), 200
    ),
    "strip_1_x_5000": Hostile("/predict/digit", upload("s.png", lambda: hp.thin_strip(1, 5000)), 200),
    "strip_5000_x_1": Hostile("/predict/digit", upload("s.png", lambda: hp.thin_strip(5000, 1)), 200),
    "blank_1_x_5000": Hostile(
        "/predict/digit", upload("b.png", lambda: hp.thin_strip(1, 5000, ink=False)), 422
    ),
    "multipart_no_file": Hostile("/predict/digit", lambda: {"files": {"note": (None, "hello")}}, 422),
    "multipart_wrong_field": Hostile("/predict/digit", upload("d.png", digit_png, field="image"), 422),
    "multipart_two_files_single_route": Hostile(
        "/predict/digit",
        lambda: {
            "files": [
                ("file", ("a.png", digit_png(), "image/png")),
                ("file", ("b.png", digit_png(), "image/png")),
            ]
        },
        422,
    ),
    "digit_route_json_body": Hostile("/predict/digit", lambda: {"json": {"file": "x"}}, 415),
    "batch_too_many_files": Hostile(
        "/predict/digit/batch",
        lambda: {"files": [("files", (f"{i}.png", digit_png(), "image/png")) for i in range(65)]},
        422,
    ),
}

PRICE_CASES: dict[str, Hostile] = {
    "json_10mb_body": Hostile(
        "/predict/price", raw_json(lambda: json.dumps({**PRICE, "pad": "x" * (10 << 20)})), 413
    ),
    "json_nested_100k_deep": Hostile("/predict/price", raw_json(lambda: nested(100_000)), 422),
    "json_nested_in_feature": Hostile("/predict/price", price_with(nested(5000)), 422),
    "number_as_string": Hostile("/predict/price", price_with('"0.5"'), 422),
    "number_1e308": Hostile("/predict/price", price_with("1e308"), 422),
    "number_1e309": Hostile("/predict/price", price_with("1e309"), 422),
    "number_nan_token": Hostile("/predict/price", price_with("NaN"), 422),
    "number_minus_zero": Hostile("/predict/price", price_with("-0.0"), 200),
    "boolean": Hostile("/predict/price", price_with("true", "CHAS"), 422),
    "null": Hostile("/predict/price", price_with("null"), 422),
    "content_type_text_plain": Hostile(
        "/predict/price", raw_json(lambda: json.dumps(PRICE), {"content-type": "text/plain"}), 415
    ),
    "content_type_xml": Hostile(
        "/predict/price", raw_json(lambda: "<CRIM>1</CRIM>", {"content-type": "application/xml"}), 415
    ),
    "content_type_multipart": Hostile("/predict/price", upload("d.png", digit_png), 415),
    "empty_body": Hostile("/predict/price", raw_json(lambda: b""), 422),
    "invalid_utf8": Hostile("/predict/price", raw_json(lambda: b'{"CRIM": "\xff\xfe"}'), 422),
    "top_level_list": Hostile("/predict/price", raw_json(lambda: json.dumps(list(PRICE.values()))), 422),
    "batch_over_limit": Hostile(
        "/predict/price/batch", raw_json(lambda: json.dumps({"instances": [PRICE] * 1001})), 422
    ),
    "batch_not_a_list": Hostile("/predict/price/batch", raw_json(lambda: '{"instances": 5}'), 422),
}

CASES = {**DIGIT_CASES, **PRICE_CASES}
# The error code docs/API.md gives for each status, and the cases where it is more specific.
CODE_BY_STATUS = {413: "payload_too_large", 415: "unsupported_media_type", 422: "invalid_input"}
CODE_BY_CASE = {
    "empty_file": "corrupt_image",
    "truncated_png": "corrupt_image",
    "truncated_jpeg": "corrupt_image",
    "truncated_heic": "corrupt_image",
    "blank_1_x_5000": "no_ink",
}


def check_error_shape(response: httpx.Response, code: str) -> None:
    """The one error JSON shape the service documents for every 4xx and 5xx, with the expected code."""
    body = response.json()
    assert set(body) >= {"error", "request_id"}, body
    error = body["error"]
    assert error["status"] == response.status_code
    assert error["code"] == code, body
    assert isinstance(error["message"], str) and error["message"]
    assert response.headers["x-request-id"] == body["request_id"]


def check_success(path: str, body: dict[str, Any]) -> None:
    if path == "/predict/digit":
        assert body["digit"] in range(10)
        assert math.isclose(sum(body["probabilities"]), 1.0, abs_tol=1e-4)
    else:
        assert math.isfinite(body["price"])


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input(name: str, client: httpx.Client) -> None:
    case = CASES[name]
    kwargs = case.build()
    started = time.monotonic()
    response = client.post(case.path, **kwargs)
    elapsed = time.monotonic() - started
    assert response.status_code == case.status, response.text[:500]
    assert elapsed < HANG_GUARD_S, f"{name} took {elapsed:.1f} s"
    if case.status >= 400:
        check_error_shape(response, CODE_BY_CASE.get(name, CODE_BY_STATUS[case.status]))
    else:
        check_success(case.path, response.json())
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize(
    ("name", "text"),
    [
        # Duplicate keys: the last one wins, as in JavaScript's JSON.parse (RFC 8259 leaves it open).
        ("duplicate_keys", '{"CRIM": -1, ' + json.dumps(PRICE)[1:]),
        ("minus_zero", json.dumps({**PRICE, "CHAS": 0.0}).replace('"CHAS": 0.0', '"CHAS": -0.0')),
    ],
)
def test_odd_but_valid_json_prices_as_plain(name: str, text: str, client: httpx.Client) -> None:
    plain = client.post("/predict/price", json=PRICE)
    odd = client.post("/predict/price", content=text, headers=JSON)
    assert plain.status_code == odd.status_code == 200, odd.text
    assert odd.json()["price"] == plain.json()["price"]


def test_declared_oversize_body_is_refused_before_it_is_sent(live_server: Any, client: httpx.Client) -> None:
    """Content-Length of 50 MB and no body at all: the answer is 413 from the header alone."""
    import socket

    head = (
        "POST /predict/digit HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {50 << 20}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", live_server.port), timeout=HANG_GUARD_S) as sock:
        sock.sendall(head.encode())
        chunks = []
        while b"payload_too_large" not in b"".join(chunks) and (chunk := sock.recv(65536)):
            chunks.append(chunk)
        reply = b"".join(chunks).decode(errors="replace")
    assert reply.startswith("HTTP/1.1 413"), reply[:300]
    assert '"code":"payload_too_large"' in reply.replace(" ", ""), reply[:600]
    assert client.get("/readyz").status_code == 200


def test_service_survived_every_case(client: httpx.Client, live_server: Any) -> None:
    """Runs last in this module: the process is still the same, ready, and logged no traceback."""
    assert live_server.proc.poll() is None
    assert client.get("/readyz").status_code == 200
    assert "Traceback" not in live_server.log()
