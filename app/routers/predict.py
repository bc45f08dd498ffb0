"""POST /predict/price(/batch) and /predict/digit(/batch): read the request, call the model's pipeline."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, cast

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from app.deps import json_response
from app.errors import InvalidInput, UnsupportedMediaType
from app.pipelines.digit import DigitPipeline
from app.pipelines.price import PricePipeline
from app.registry import Registry
from app.schemas import (
    EXAMPLE_ROW,
    DigitBatchResponse,
    DigitResponse,
    PriceBatchResponse,
    PriceResponse,
    error_responses,
)
from app.service import Service
from app.uploads import read_files


class RawRequestRoute(APIRoute):
    """A documented route whose endpoint takes the bare `Request` and returns a `Response`.

    FastAPI's request handler (dependency solving, response validation) is skipped: nothing to do
    for such an endpoint, and ~15% of the price route's CPU.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return cast(Callable[[Request], Coroutine[Any, Any, Response]], self.endpoint)


router = APIRouter(prefix="/predict", tags=["predict"], route_class=RawRequestRoute)
PRICE_ERRORS = error_responses(413, 415, 422, 500, 503)
DIGIT_ERRORS = error_responses(413, 415, 422, 500, 503)


NAMED_EXAMPLE = {"summary": "features by name", "value": EXAMPLE_ROW}
LIST_EXAMPLE = {"summary": "features as a list", "value": {"features": list(EXAMPLE_ROW.values())}}
BATCH_EXAMPLE = {"summary": "two houses", "value": {"instances": [EXAMPLE_ROW, LIST_EXAMPLE["value"]]}}


def _flag_param(name: str, description: str) -> dict[str, Any]:
    schema = {"type": "boolean", "default": False}
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


EXPLAIN_PARAM = _flag_param("explain", "add each feature's contribution and the baseline")
DEBUG_PARAM = _flag_param("debug", "add the 28x28 image the network saw, as base64 PNG")
# pydantic's lax booleans, as FastAPI would parse a `bool` query parameter
TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


def _json_body(schema_ref: str, examples: dict[str, Any]) -> dict[str, Any]:
    """The body and query documented by hand: the routes skip FastAPI's parameter machinery (speed)."""
    media = {"schema": {"$ref": schema_ref}, "examples": examples}
    body = {"required": True, "content": {"application/json": media}}
    return {"requestBody": body, "parameters": [EXPLAIN_PARAM]}


def _flag(request: Request, name: str) -> bool:
    """A boolean query parameter, false when absent; anything else than a boolean is a 422."""
    if not request.scope["query_string"]:  # the usual case: no query to parse (~10 µs)
        return False
    value = request.query_params.get(name)
    if value is None or value.lower() in FALSE:
        return False
    if value.lower() in TRUE:
        return True
    detail = {"loc": ["query", name], "msg": "expected a boolean", "type": "bool_parsing"}
    raise InvalidInput(f"{name}: expected a boolean (true or false), got {value[:20]!r}", [detail])


def _upload_body(field: str, many: bool) -> dict[str, Any]:
    binary = {"type": "string", "format": "binary"}
    prop = {"type": "array", "items": binary, "minItems": 1} if many else binary
    description = "PNG, JPEG, BMP, GIF, WebP or TIFF: a dark digit on light paper, or MNIST-style"
    prop["description"] = description + (" (several files)" if many else "")
    schema = {
        "type": "object",
        "required": [field],
        "properties": {field: prop},
        "additionalProperties": False,
    }
    body = {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    return {"requestBody": body, "parameters": [DEBUG_PARAM]}


def _registry(request: Request) -> Registry:
    service: Service = request.app.state.service
    return service.registry


async def _read_json(request: Request) -> bytes:
    content_type = request.headers.get("content-type")
    if content_type is not None and "json" not in content_type.lower():
        raise UnsupportedMediaType(f"send application/json (got {content_type})")
    return await request.body()


@router.post(
    "/price",
    response_model=PriceResponse,
    responses=PRICE_ERRORS,
    summary="Price one house",
    openapi_extra=_json_body(
        "#/components/schemas/PriceInstance", {"named": NAMED_EXAMPLE, "list": LIST_EXAMPLE}
    ),
)
async def predict_price(request: Request) -> Response:
    with _registry(request).lease("boston", PricePipeline) as pipeline:
        explain = _flag(request, "explain")
        return json_response(pipeline.price(await _read_json(request), explain))


@router.post(
    "/price/batch",
    response_model=PriceBatchResponse,
    responses=PRICE_ERRORS,
    summary="Price several houses",
    openapi_extra=_json_body("#/components/schemas/PriceBatchRequest", {"batch": BATCH_EXAMPLE}),
)
async def predict_price_batch(request: Request) -> Response:
    with _registry(request).lease("boston", PricePipeline) as pipeline:
        explain = _flag(request, "explain")
        return json_response(pipeline.price_batch(await _read_json(request), explain))


@router.post(
    "/digit",
    response_model=DigitResponse,
    responses=DIGIT_ERRORS,
    summary="Read one handwritten digit",
    openapi_extra=_upload_body("file", many=False),
)
async def predict_digit(request: Request) -> Response:
    with _registry(request).lease("mnist", DigitPipeline) as pipeline:
        debug = _flag(request, "debug")
        files = await read_files(request, "file", 1)
        return json_response((await pipeline.read(files, debug, many=False))[0])


@router.post(
    "/digit/batch",
    response_model=DigitBatchResponse,
    responses=DIGIT_ERRORS,
    summary="Read several digits",
    openapi_extra=_upload_body("files", many=True),
)
async def predict_digit_batch(request: Request) -> Response:
    service: Service = request.app.state.service
    with service.registry.lease("mnist", DigitPipeline) as pipeline:
        debug = _flag(request, "debug")
        files = await read_files(request, "files", service.settings.max_digit_batch)
        return json_response({"predictions": await pipeline.read(files, debug, many=True)})
