"""`app.routing`'s seam, tested differentially: the fast handler answers as FastAPI's own handler.

Two apps over the same models: one as served (`FastHandler` on every `ContractRoute`), one whose
routes are built with FastAPI's standard handler. One corpus of requests goes to both; status,
content type and JSON (without the request id) must be equal. The standard handler serializes an
answer through the route's `response_model`, so equality also shows that the fast handler's answers
are what the response model gives.

Uploads: both paths read a canonical multipart body; the upload rules (one field, files only, the
file count) are `app.uploads.read_files`'s, tested against python-multipart in
`test_uploads_fast_path.py`, so only well-formed uploads and content types are compared here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Match

from app.main import DOCS_ROUTES, create_app
from app.routing import ContractRoute, FastHandler, parse_json
from app.schemas import DigitBatchResponse, DigitResponse, PriceBatchResponse, PriceResponse
from app.settings import Settings
from models.features import BOSTON_FEATURES
from tests.app.conftest import drawn_digit_png
from tests.app.model_fixtures import ROW

LIMITS = {"max_price_batch": 3, "max_digit_batch": 2, "max_json_bytes": 20_000}
LISTED = {"features": [ROW[n] for n in BOSTON_FEATURES]}


def _text(change: dict[str, Any], token: str) -> str:
    return json.dumps({**ROW, **change}).replace('"@"', token)


JSON_BODIES: list[Any] = [
    ROW,
    {k.lower(): v for k, v in ROW.items()},
    LISTED,
    {"FEATURES": LISTED["features"]},
    {k: int(v) if float(v).is_integer() else v for k, v in ROW.items()},
    {**ROW, "CRIM": 95.0, "LSTAT": 1.0},
    {**ROW, "CRIM": None},
    {**ROW, "CRIM": "0.5"},
    {**ROW, "CHAS": True},
    {**ROW, "CHAS": 0.5},
    {**ROW, "AGE": 100.5},
    {**ROW, "CRIM": 1e308},
    {**ROW, "EXTRA": 1},
    {**ROW, "crim": 1.0},
    {k: v for k, v in ROW.items() if k != "TAX"},
    {"features": [1.0] * 12},
    {"features": [*LISTED["features"][:12], "x"]},
    {"features": LISTED["features"], "CRIM": 1.0},
    {},
    [1, 2, 3],
    5,
    "text",
    None,
]
RAW_BODIES = [
    b"",
    b"{",
    b'{"CRIM": "\xff"}',
    b"[" * 5000 + b"]" * 5000,
    *(_text({"CRIM": "@"}, token).encode() for token in ("NaN", "Infinity", "-Infinity", "1e309")),
    json.dumps({**ROW, "ZN": 0.0}).replace('"ZN": 0.0', '"ZN": -0.0').encode(),
]
BATCHES: list[Any] = [
    {"instances": [ROW, LISTED, {**ROW, "RM": 7.5}]},
    {"instances": [ROW, {**ROW, "NOX": -1}]},
    {"instances": [ROW, {"features": [1.0]}]},
    {"instances": [ROW, 5]},
    {"instances": [ROW] * 4},
    {"instances": []},
    {"instances": 5},
    {"rows": [ROW]},
    {"instances": [ROW], "extra": 1},
]
CONTENT_TYPES = [
    None,
    "application/json",
    "application/json; charset=utf-8",
    "application/vnd.api+json",
    "text/plain",
    "text/json",
    "multipart/form-data; boundary=x",
]
QUERIES = ["", "?explain=true", "?explain=1", "?explain=no", "?explain=maybe", "?explain=true&explain=x"]


def _requests() -> Iterator[tuple[str, str, dict[str, Any]]]:
    json_header = {"content-type": "application/json"}
    for i, body in enumerate(JSON_BODIES):
        yield f"price-json-{i}", "/predict/price", {"content": json.dumps(body), "headers": json_header}
    for i, raw in enumerate(RAW_BODIES):
        yield f"price-raw-{i}", "/predict/price", {"content": raw, "headers": json_header}
    for i, body in enumerate(BATCHES):
        yield f"batch-{i}", "/predict/price/batch", {"content": json.dumps(body), "headers": json_header}
    for content_type in CONTENT_TYPES:
        headers = {"content-type": content_type} if content_type else {}
        yield f"price-type-{content_type}", "/predict/price", {"content": json.dumps(ROW), "headers": headers}
    for query in QUERIES:
        yield f"price-query-{query}", "/predict/price" + query, {"json": ROW}
        yield f"batch-query-{query}", "/predict/price/batch" + query, {"json": {"instances": [ROW]}}
    png = drawn_digit_png()
    for query in ("", "?debug=true", "?debug=maybe"):
        yield f"digit{query}", "/predict/digit" + query, {"files": {"file": ("d.png", png, "image/png")}}
        two = [
            ("files", ("a.png", png, "image/png")),
            ("files", ("b.png", drawn_digit_png(size=90), "image/png")),
        ]
        yield f"digits{query}", "/predict/digit/batch" + query, {"files": two}
    big = json.dumps({**ROW, "pad": "x" * 30_000}).encode()
    yield "price-too-large", "/predict/price", {"content": big, "headers": json_header}
    streamed = {"content": lambda: iter([json.dumps(ROW).encode(), b" " * 30_000]), "headers": json_header}
    yield "price-too-large-streamed", "/predict/price", streamed
    yield "digit-not-an-image", "/predict/digit", {"files": {"file": ("d.png", b"nope", "image/png")}}
    yield "digit-json", "/predict/digit", {"json": {"file": "x"}}
    yield "digit-png", "/predict/digit", {"content": png, "headers": {"content-type": "image/png"}}


REQUESTS = list(_requests())


def _standard_app(settings: Settings) -> FastAPI:
    """An app whose ContractRoutes are built with FastAPI's own handler."""
    app = create_app(settings)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ContractRoute, "get_route_handler", ContractRoute.standard_handler)
        for route in app.router.routes:  # included routes are built on first use: build them now
            if hasattr(route, "effective_candidates"):
                route.effective_candidates()
    return app


@pytest.fixture(scope="module")
def clients(models_dir: Path) -> Iterator[tuple[TestClient, TestClient]]:
    settings = Settings(models_dir=models_dir, **LIMITS)  # type: ignore[arg-type]
    with TestClient(create_app(settings)) as fast, TestClient(_standard_app(settings)) as standard:
        yield fast, standard


def _post(client: TestClient, path: str, request_kw: dict[str, Any]) -> Any:
    """The request; a callable `content` is called for a fresh stream (no Content-Length)."""
    content = request_kw.get("content")
    return client.post(path, **{**request_kw, "content": content()} if callable(content) else request_kw)


def _answer(response: Any) -> tuple[int, str, Any]:
    body = parse_json(response.content)
    if isinstance(body, dict):
        body.pop("request_id", None)
    return response.status_code, response.headers.get("content-type", ""), body


def test_the_served_routes_take_the_fast_handler(
    clients: tuple[TestClient, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, standard = clients
    calls: list[str] = []
    original = FastHandler.__call__

    async def counted(self: FastHandler, request: Any) -> Any:
        calls.append(request.url.path)
        return await original(self, request)

    monkeypatch.setattr(FastHandler, "__call__", counted)
    assert standard.post("/predict/price", json=ROW).status_code == 200 and calls == []
    assert fast.post("/predict/price", json=ROW).status_code == 200 and calls == ["/predict/price"]


@pytest.mark.parametrize(("name", "path", "request_kw"), REQUESTS, ids=[r[0] for r in REQUESTS])
def test_fast_and_standard_handlers_answer_the_same(
    clients: tuple[TestClient, TestClient], name: str, path: str, request_kw: dict[str, Any]
) -> None:
    fast, standard = clients
    assert _answer(_post(fast, path, request_kw)) == _answer(_post(standard, path, request_kw))


RESPONSE_MODELS = {
    "/predict/price": PriceResponse,
    "/predict/price/batch": PriceBatchResponse,
    "/predict/digit": DigitResponse,
    "/predict/digit/batch": DigitBatchResponse,
}


def test_the_corpus_has_answers_and_errors_of_every_route(clients: tuple[TestClient, TestClient]) -> None:
    """The comparison means something: each route answers 200 and several 4xx in the corpus."""
    fast, _ = clients
    seen: dict[str, set[int]] = {}
    for _, path, request_kw in REQUESTS:
        response = _post(fast, path, request_kw)
        route = path.partition("?")[0]
        seen.setdefault(route, set()).add(response.status_code)
        if response.status_code == 200:
            RESPONSE_MODELS[route].model_validate_json(response.content, strict=True)
    assert {200, 415, 422} <= seen["/predict/price"] and {200, 422} <= seen["/predict/price/batch"]
    assert {200, 415, 422} <= seen["/predict/digit"] and {200, 422} <= seen["/predict/digit/batch"]


def test_the_service_routes_are_matched_before_the_docs_routes() -> None:
    routes = create_app().router.routes
    docs = [i for i, route in enumerate(routes) if getattr(route, "name", None) in DOCS_ROUTES]
    scope = {"type": "http", "method": "POST", "path": "/predict/price", "root_path": ""}
    price = next(i for i, route in enumerate(routes) if route.matches(dict(scope))[0] == Match.FULL)
    assert len(docs) == len(DOCS_ROUTES) and price < min(docs)
