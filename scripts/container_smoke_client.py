"""Requests the container smoke test sends through the published port (stdlib only).

    SMOKE_API_TOKEN=... SMOKE_ADMIN_TOKEN=... python scripts/container_smoke_client.py http://127.0.0.1:8000

Exits non-zero, naming the check, when an answer is not what the service documents. The
container runs with deploy/compose.tokens.yml: predictions send SMOKE_API_TOKEN, the model
repository calls SMOKE_ADMIN_TOKEN.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import urllib.error
import urllib.request
import uuid
from typing import Any

from PIL import Image, ImageDraw

# The first row of the Boston data set (its MEDV is 24.0, in $1000s).
PRICE = {"CRIM": 0.00632, "ZN": 18.0, "INDUS": 2.31, "CHAS": 0.0, "NOX": 0.538, "RM": 6.575, "AGE": 65.2,
         "DIS": 4.09, "RAD": 1.0, "TAX": 296.0, "PTRATIO": 15.3, "B": 396.9, "LSTAT": 4.98}  # fmt: skip


API_TOKEN = os.environ.get("SMOKE_API_TOKEN", "")
ADMIN_TOKEN = os.environ.get("SMOKE_ADMIN_TOKEN", "")


def call(
    url: str, body: bytes | None = None, content_type: str = "", token: str | None = None
) -> tuple[int, Any]:
    """One request, with the API token unless `token` is given; returns (status, JSON or text)."""
    request = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    if content_type:
        request.add_header("Content-Type", content_type)
    token = API_TOKEN if token is None else token
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw, kind = response.status, response.read(), response.headers.get_content_type()
    except urllib.error.HTTPError as error:
        status, raw, kind = error.code, error.read(), error.headers.get_content_type()
    return status, json.loads(raw) if kind == "application/json" else raw.decode(errors="replace")


def digit_png() -> bytes:
    """A thick dark '1' on white, 140x140 PNG: the service must scale and centre it."""
    image = Image.new("L", (140, 140), 255)
    ImageDraw.Draw(image).line([(70, 15), (70, 125)], fill=0, width=14)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def multipart(field: str, filename: str, data: bytes, mime: str) -> tuple[bytes, str]:
    """A multipart/form-data body holding one file."""
    boundary = uuid.uuid4().hex
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            f"Content-Type: {mime}\r\n\r\n").encode()  # fmt: skip
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def expect(ok: bool, what: str, got: object) -> None:
    """Fail the smoke test naming the check."""
    if not ok:
        sys.exit(f"smoke check failed: {what}: {got!r}"[:2000])
    print(f"  ok  {what}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url")
    base = parser.parse_args().base_url.rstrip("/")

    status, body = call(base + "/readyz")
    expect(status == 200, "GET /readyz is 200", (status, body))
    status, body = call(base + "/models")
    expect(status == 200 and "boston" in json.dumps(body) and "mnist" in json.dumps(body),
           "GET /models lists boston and mnist", (status, body))  # fmt: skip

    status, body = call(base + "/predict/price", json.dumps(PRICE).encode(), "application/json")
    price = body.get("price") if isinstance(body, dict) else None
    expect(status == 200 and isinstance(price, float) and 14.0 < price < 34.0,
           f"POST /predict/price prices row 0 near its true 24.0 ({price})", (status, body))  # fmt: skip
    batch = json.dumps({"instances": [PRICE, {"features": list(PRICE.values())}]}).encode()
    status, body = call(base + "/predict/price/batch", batch, "application/json")
    prices = [p["price"] for p in body["predictions"]] if status == 200 else []
    expect(
        len(prices) == 2 and prices[0] == prices[1] == price, "POST /predict/price/batch, both forms", body
    )
    status, body = call(base + "/predict/price", b'{"CRIM": "lots"}', "application/json")
    expect(status == 422, "a bad price request is 422", (status, body))

    status, body = call(base + "/predict/digit", *multipart("file", "one.png", digit_png(), "image/png"))
    digit = body.get("digit") if isinstance(body, dict) else None
    expect(status == 200 and digit == 1, f"POST /predict/digit reads a drawn 1 ({digit})", (status, body))
    for page, marker in (("/", "<html"), ("/docs", "swagger")):
        status, body = call(base + page)
        expect(status == 200 and marker in str(body).lower(), f"GET {page} serves its page", status)
    status, body = call(base + "/metrics")
    expect(status == 200 and "predict" in str(body), "GET /metrics exposes request metrics", status)
    if API_TOKEN and ADMIN_TOKEN:
        check_tokens(base)


def check_tokens(base: str) -> None:
    """The tokens the secrets hold are the ones asked for; a reload serves on."""
    row = json.dumps(PRICE).encode()
    status, body = call(base + "/predict/price", row, "application/json", token="")
    expect(status == 401, "a price without the API token is 401", (status, body))
    status, body = call(base + "/predict/price", row, "application/json", token="a-retired-token")
    expect(status == 200, "the secret's other token is accepted too", (status, body))
    status, body = call(base + "/v2/repository/index", b"", token="")
    expect(status == 401, "the repository index without the admin token is 401", (status, body))
    status, body = call(base + "/v2/repository/index", b"", token=ADMIN_TOKEN)
    states = [m.get("state") for m in body] if status == 200 else body
    expect(states == ["READY", "READY"], "the repository index lists both models READY", (status, body))
    status, body = call(base + "/v2/repository/models/mnist/load", b"", token=ADMIN_TOKEN)
    expect(status == 200, "POST /v2/repository/models/mnist/load reloads it in the container", (status, body))
    status, body = call(base + "/predict/digit", *multipart("file", "one.png", digit_png(), "image/png"))
    expect(status == 200 and body.get("digit") == 1, "the reloaded model reads the drawn 1", (status, body))


if __name__ == "__main__":
    main()
