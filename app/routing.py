"""`ContractRoute`: a route's contract is its FastAPI signature; a leaner handler serves it.

FastAPI builds each route's dependant and `/openapi.json` from the endpoint's typed parameters (the
`Annotated` query parameters, the pydantic body or `File` uploads, the dependencies). `FastHandler`
solves that same dependant with FastAPI's own validators (`request_params_to_args`,
`request_body_to_args`) and the same errors, without the general handler's per-request machinery
(exit stacks, telemetry context, response-model serialization). Measured on this machine
(2026-12-03, `bench.bench`, 32 connections, median of 3 rounds, one run): FastAPI's handler on
these routes serves 3,403 price req/s against 5,331 with this one (-36%; in-process ~160 against
~94 µs a request) and 2,340 digit req/s against 2,522 (-7%; uploads also keep `read_files`'s
rules, one field and files only, which FastAPI's `File` does not check). It serves a route whose
signature it supports (dependencies `async def f(request)`, path and query parameters, one JSON
body or `File` uploads, read by `app.uploads.read_files`); FastAPI's handler serves any other.
`tests/app/test_routing.py` sends one corpus through both and compares the answers.

Both read JSON with `parse_json` (orjson; NaN and Infinity reach the schema, which calls them not
finite, instead of failing the parse). The fast handler writes the returned dict with orjson; the
standard one serializes it through the route's `response_model` (the test checks they agree).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, cast

import orjson
from fastapi import params
from fastapi._compat import ModelField
from fastapi._compat.shared import is_bytes_or_nonable_bytes_annotation, is_bytes_sequence_annotation
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import (
    _get_form_models,
    _should_embed_body_fields,
    _validate_value_with_model_field,
    request_body_to_args,
    request_params_to_args,
)
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.routing import APIRoute, _effective_route_context_var
from pydantic_core import PydanticUndefined as Undefined
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from app.deps import json_response
from app.errors import ServiceError
from app.uploads import MAX_FILES, read_files

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def parse_json(body: bytes) -> Any:
    """Bytes -> a Python value, or a `json.JSONDecodeError` (FastAPI's 422 `json_invalid`).

    NaN, Infinity and numbers past float range are read as floats, so that the schema names the
    field that holds them; what neither orjson nor the standard library reads (bad UTF-8, nesting
    too deep) and what orjson cannot write back (lone surrogates, integers past 64 bits) is invalid.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        error = exc
    try:
        value = json.loads(body)
        orjson.dumps(value)
    except (ValueError, RecursionError, TypeError, orjson.JSONEncodeError):
        raise error from None
    return value


class JSONRequest(Request):
    """A request for FastAPI's own handler: `json()` is `parse_json`, and an error of ours raised
    while the body is read (413 past the byte limit) stays itself instead of becoming a 400."""

    async def body(self) -> bytes:
        try:
            return await super().body()
        except ServiceError as exc:  # FastAPI's handler lets only an HTTPException through as is
            raise HTTPException(exc.status, exc.message, exc.headers) from exc

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json(await self.body())
        return self._json


def json_answer(content: Any) -> Response:
    """A handler's return value as a response: a Response as is, anything else as orjson JSON."""
    return content if isinstance(content, Response) else json_response(content)


def _is_async(call: Any) -> bool:
    return inspect.iscoroutinefunction(call) and not inspect.isasyncgenfunction(call)


def _takes_only_the_request(dependant: Dependant) -> bool:
    """A dependency FastHandler can call as FastAPI would: `async def f(request)`, cached per request."""
    d = dependant
    params_ = (d.path_params, d.query_params, d.header_params, d.cookie_params, d.body_params, d.dependencies)
    others = (d.websocket_param_name, d.http_connection_param_name, d.response_param_name)
    return (
        _is_async(d.call)
        and d.request_param_name is not None
        and not any(params_)
        and all(name is None for name in others)
        and d.background_tasks_param_name is None
        and d.security_scopes_param_name is None
    )


def is_json(content_type: str) -> bool:
    """FastAPI's rule for a body it parses as JSON: application/json or application/*+json."""
    mime = content_type.partition(";")[0].strip().lower()
    kind, _, subtype = mime.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


def _files(field: ModelField) -> tuple[str, bool] | None:
    """(form field name, many) for an upload parameter (`File()` as bytes or list of bytes), else None."""
    if not isinstance(field.field_info, params.File):
        return None
    if is_bytes_or_nonable_bytes_annotation(field.field_info.annotation):
        return field.alias, False
    return (field.alias, True) if is_bytes_sequence_annotation(field.field_info.annotation) else None


class FastHandler:
    """Solves a `ContractRoute`'s dependant as FastAPI does, without its general machinery."""

    def __init__(self, route: Any) -> None:
        dependant: Dependant = route.dependant
        self.dependant, self.embed = dependant, bool(route._embed_body_fields)
        self.call: Callable[..., Coroutine[Any, Any, Any]] = dependant.call  # type: ignore[assignment]
        self.request_name = dependant.request_param_name
        self.dependencies = [
            (d.name, cast(Callable[..., Awaitable[Any]], d.call), str(d.request_param_name))
            for d in dependant.dependencies
        ]
        self.defaults, errors = request_params_to_args(dependant.query_params, QueryParams(""))
        assert not errors, f"{route.path}: a query parameter without a default"
        self.strict = bool(getattr(route.strict_content_type, "value", route.strict_content_type))
        self.uploads = [(f.name, *spec) for f in dependant.body_params if (spec := _files(f))]
        # One body parameter that is the whole body: validated directly, as request_body_to_args
        # does for it after deciding so on every request (~8 µs a price request).
        body = dependant.body_params
        whole = len(body) == 1 and not (self.embed or _should_embed_body_fields(body) or self.uploads)
        self.whole_body = body[0] if whole and not _get_form_models(body[0]) else None

    @staticmethod
    def supports(route: Any) -> bool:
        d: Dependant = route.dependant
        forms = [f for f in d.body_params if isinstance(f.field_info, params.Form)]
        return (
            _is_async(d.call)
            and d.response_param_name is None
            and d.background_tasks_param_name is None
            and not (d.header_params or d.cookie_params)
            and (len(d.body_params) <= 1 if not forms else all(_files(f) for f in d.body_params))
            and all(_takes_only_the_request(sub) for sub in d.dependencies)
        )

    async def _json(self, request: Request) -> Any:
        """The body as FastAPI's handler gives it: Undefined when empty, bytes unless sent as JSON."""
        body = await request.body()
        if not body:
            return Undefined
        content_type = request.headers.get("content-type")
        if not (is_json(content_type) if content_type is not None else not self.strict):
            return body
        try:
            return parse_json(body)
        except json.JSONDecodeError as exc:
            error = {"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error"}
            raise RequestValidationError(
                [{**error, "input": {}, "ctx": {"error": exc.msg}}], body=body
            ) from None

    def _solve(self, request: Request, values: dict[str, Any]) -> list[Any]:
        """The path and query parameters into `values` (the defaults when there is no query); their errors."""
        d = self.dependant
        path_values, errors = request_params_to_args(d.path_params, request.path_params)
        values.update(path_values)
        if request.scope["query_string"]:
            query_values, query_errors = request_params_to_args(d.query_params, request.query_params)
            values.update(query_values)
            errors += query_errors
        else:
            values.update(self.defaults)
        return errors

    async def __call__(self, request: Request) -> Response:
        d = self.dependant
        body = await self._json(request) if d.body_params and not self.uploads else Undefined
        values: dict[str, Any] = {}
        for name, field, many in self.uploads:  # the multipart contract is `read_files`'s
            files = await read_files(request, field, MAX_FILES if many else 1)
            values[name] = files if many else files[0]
        for dependency, call, request_name in self.dependencies:  # in order, as FastAPI solves them
            value = await call(**{request_name: request})
            if dependency is not None:
                values[dependency] = value
        errors = self._solve(request, values)
        if self.whole_body is not None:
            whole = self.whole_body
            values[whole.name], body_errors = _validate_value_with_model_field(
                field=whole, value=body, values=values, loc=("body",)
            )
            errors += body_errors
        elif d.body_params and not self.uploads:
            body_values, body_errors = await request_body_to_args(d.body_params, body, self.embed)
            values.update(body_values)
            errors += body_errors
        if errors:
            raise RequestValidationError(errors, body=body)
        if self.request_name:
            values[self.request_name] = request
        return json_answer(await self.call(**values))


class ContractRoute(APIRoute):
    """An `APIRoute` served by `FastHandler` when it can (see the module's docstring)."""

    def get_route_handler(self) -> Handler:
        # As APIRoute does: an included route is built with its effective (merged) context.
        context = _effective_route_context_var.get()
        route = context if context is not None and context.original_route is self else self
        return FastHandler(route) if FastHandler.supports(route) else self.standard_handler()

    def standard_handler(self) -> Handler:
        """FastAPI's own handler, reading JSON with `parse_json`."""
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            return await handler(JSONRequest(request.scope, request.receive))

        return handle
