"""The service's exception hierarchy and the one place that maps exceptions to HTTP answers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from app.logging import current_request_id

if TYPE_CHECKING:  # predictors import the exceptions; keep FastAPI out of their imports
    from fastapi import FastAPI, Request

logger = logging.getLogger(__name__)


class ServiceError(Exception):
    """Base: an error the client sees with its status, a stable code and a message."""

    status = 500
    code = "internal_error"

    def __init__(
        self, message: str, details: list[Any] | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers

    @classmethod
    def from_parts(
        cls,
        status: int,
        code: str,
        message: str,
        details: list[Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> ServiceError:
        """The error rebuilt from its parts (it crossed a process boundary): any status and code."""
        error = cls(message, details, headers)
        error.status, error.code = status, code  # on the instance: the class need not be known here
        return error


class InvalidInput(ServiceError):
    """Raised when a request is well-formed but a value is missing, unknown or out of its domain."""

    status, code = 422, "invalid_input"


class UnsupportedMediaType(ServiceError):
    """Raised for a body whose content type, or an upload whose image format, the route does not take."""

    status, code = 415, "unsupported_media_type"


class PayloadTooLarge(ServiceError):
    """Raised when a body passes the byte limit or an image passes the pixel limit."""

    status, code = 413, "payload_too_large"


class Unauthorized(ServiceError):
    """Raised when a route that needs a token is called without one."""

    status, code = 401, "unauthorized"


class Forbidden(ServiceError):
    """Raised when a token is wrong, or for a route that is turned off."""

    status, code = 403, "forbidden"


class NotFound(ServiceError):
    """Raised for an unknown route or model name."""

    status, code = 404, "not_found"


class ModelUnavailable(ServiceError):
    """Raised when the model a route needs failed to load or is not loaded yet."""

    status, code = 503, "model_unavailable"


class Overloaded(ServiceError):
    """Raised when the inference queue is full or a request passed its deadline."""

    status, code = 503, "overloaded"

    @classmethod
    def retry_within(cls, message: str, timeout_s: float) -> Overloaded:
        """The error with `Retry-After`: the deadline `timeout_s` in whole seconds, at least 1."""
        return cls(message, headers={"Retry-After": str(max(1, int(timeout_s + 0.999)))})


V2_PREFIX = "/v2"
V2_STATUS = {415: 400, 422: 400}  # the Open Inference Protocol's "bad request" is 400


def is_v2(path: str) -> bool:
    """Whether `path` is an Open Inference Protocol route, whose errors take the protocol's shape."""
    return path == V2_PREFIX or path.startswith(V2_PREFIX + "/")


def error_status(status: int, path: str = "") -> int:
    """The status a path answers for an error of `status`."""
    return V2_STATUS.get(status, status) if is_v2(path) else status


def error_body(
    status: int,
    code: str,
    message: str,
    details: list[Any] | None = None,
    request_id: str | None = None,
    path: str = "",
) -> bytes:
    """The error JSON, as bytes: the service's shape, or `{"error": message}` on a v2 path.

    The service's shape carries the request id: this context's unless given.
    """
    if is_v2(path):
        return orjson.dumps({"error": message})
    error = {"status": status, "code": code, "message": message, "details": details}
    return orjson.dumps({"error": error, "request_id": request_id or current_request_id()})


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[Any] | None = None,
    headers: dict[str, str] | None = None,
    path: str = "",
) -> Response:
    body = error_body(status, code, message, details, path=path)
    return Response(body, error_status(status, path), headers=headers, media_type="application/json")


def _validation_details(errors: Sequence[Any]) -> list[Any]:
    """Each error's loc, msg and type (not its input: a client's data is not echoed back)."""
    return [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in errors
    ]


async def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    if exc.status >= 500:
        logger.warning("%s: %s", exc.code, exc.message)
    return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers, request.url.path)


async def _validation_error(request: Request, exc: Exception) -> Response:
    from fastapi.exceptions import RequestValidationError

    from app.schemas import validation_message

    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    message = validation_message(errors[0]) if errors else "invalid request"
    return error_response(422, "invalid_input", message, _validation_details(errors), path=request.url.path)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 400: "bad_request"}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, code, str(exc.detail), None, headers, request.url.path)


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception the routes raise to the one JSON error shape."""
    from fastapi.exceptions import RequestValidationError

    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
