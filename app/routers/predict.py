"""POST /predict/price(/batch) and /predict/digit(/batch): validate, call the predictors, map errors."""

from __future__ import annotations

import asyncio
import io
import struct
from collections.abc import Callable, Coroutine
from typing import Any, cast

import numpy as np
from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from PIL import Image
from starlette.responses import Response

from app.deps import json_response
from app.errors import InvalidInput, ServiceError, UnsupportedMediaType
from app.predictors.digit import DigitPredictor, Observe, Prepared
from app.price_input import parse_batch, parse_single
from app.schemas import (
    EXAMPLE_ROW,
    DigitBatchResponse,
    DigitResponse,
    PriceBatchResponse,
    PriceResponse,
    error_responses,
)
from app.state import ServiceState
from app.uploads import read_files
from app.workers import Logits, Pixels, PoolUnavailable


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
    predictor = request.app.state.service.require_price()
    explain = _flag(request, "explain")
    x = parse_single(await _read_json(request))
    return json_response(predictor.predict(x, explain)[0])


@router.post(
    "/price/batch",
    response_model=PriceBatchResponse,
    responses=PRICE_ERRORS,
    summary="Price several houses",
    openapi_extra=_json_body("#/components/schemas/PriceBatchRequest", {"batch": BATCH_EXAMPLE}),
)
async def predict_price_batch(request: Request) -> Response:
    state: ServiceState = request.app.state.service
    predictor = state.require_price()
    explain = _flag(request, "explain")
    x = parse_batch(await _read_json(request), state.settings.max_price_batch)
    return json_response({"predictions": predictor.predict(x, explain, batch=True)})


INLINE_PIXELS = 128 * 128  # total pixels of the uploads of one request prepared without a thread


PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"  # signature, then the IHDR chunk's length and type


def _pixels(files: list[bytes]) -> int:
    """Total pixels of the uploads, from their headers only; an unreadable file counts 0."""
    total = 0
    for data in files:
        if data.startswith(PNG_HEADER) and len(data) >= 24:  # 1 µs against ~30 µs for Image.open
            width, height = struct.unpack(">II", data[16:24])
            total += width * height
            continue
        try:
            width, height = Image.open(io.BytesIO(data)).size
        except Exception:  # not an image, or a bomb: preparing it fails at once, inline is fine
            continue
        total += width * height
    return total


def _named(exc: ServiceError, i: int, many: bool) -> ServiceError:
    if many:  # name the bad file in a batch
        exc.message = f"files[{i}]: {exc.message}"
    return exc


def _prepare_all(digit: DigitPredictor, files: list[bytes], observe: Observe, many: bool) -> list[Prepared]:
    prepared = []
    for i, data in enumerate(files):
        try:
            prepared.append(digit.prepare(data, observe))
        except ServiceError as exc:
            raise _named(exc, i, many) from None
    return prepared


async def _prepare(
    state: ServiceState, digit: DigitPredictor, files: list[bytes], many: bool
) -> tuple[list[Prepared], Logits | None]:
    """Uploads in MNIST form, and their logits when a child process ran the network.

    In a child process when there is one, else on the event loop (small) or a thread (large).
    """
    if state.pool is not None:
        try:
            outcomes, logits = await state.pool.prepare(files)
        except PoolUnavailable:  # every child died and none restarts: prepare here, as with 0 processes
            pass
        else:
            for i, outcome in enumerate(outcomes):  # the first bad file, as in-process
                if isinstance(outcome, ServiceError):
                    raise _named(outcome, i, many)
            return [digit.from_pixels(cast(Pixels, pixels)) for pixels in outcomes], logits
    observe = state.observe_stage
    # A small picture is prepared on the event loop: with the GIL, a thread hop costs more than it
    # saves (bench/: 1.9x the digit throughput at 28x28). A large one (~25 ms at 900x700) goes off it.
    if _pixels(files) <= INLINE_PIXELS:
        return _prepare_all(digit, files, observe, many), None
    return await asyncio.to_thread(_prepare_all, digit, files, observe, many), None


async def _predict_digits(state: ServiceState, files: list[bytes], debug: bool, many: bool) -> list[Any]:
    digit, batcher = state.require_digit()
    prepared, logits = await _prepare(state, digit, files, many)
    if logits is None:  # the network runs here, behind the micro-batcher
        logits = await batcher.submit(np.concatenate([p.x for p in prepared]))
    probs = digit.probabilities(logits)
    return [digit.answer(probs[i], p, debug) for i, p in enumerate(prepared)]


@router.post(
    "/digit",
    response_model=DigitResponse,
    responses=DIGIT_ERRORS,
    summary="Read one handwritten digit",
    openapi_extra=_upload_body("file", many=False),
)
async def predict_digit(request: Request) -> Response:
    state: ServiceState = request.app.state.service
    state.require_digit()
    debug = _flag(request, "debug")
    files = await read_files(request, "file", 1)
    return json_response((await _predict_digits(state, files, debug, many=False))[0])


@router.post(
    "/digit/batch",
    response_model=DigitBatchResponse,
    responses=DIGIT_ERRORS,
    summary="Read several digits",
    openapi_extra=_upload_body("files", many=True),
)
async def predict_digit_batch(request: Request) -> Response:
    state: ServiceState = request.app.state.service
    state.require_digit()
    debug = _flag(request, "debug")
    files = await read_files(request, "files", state.settings.max_digit_batch)
    return json_response({"predictions": await _predict_digits(state, files, debug, many=True)})
