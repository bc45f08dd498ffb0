"""FastAPI dependencies and small helpers shared by the routers."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from starlette.responses import Response

from app.registry import Registry
from app.service import Service


async def get_service(request: Request) -> Service:
    """The service the lifespan built.

    `async` on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread hop per
    request that halved /predict/price throughput in bench/bench.py.
    """
    service: Service = request.app.state.service
    return service


async def get_registry(request: Request) -> Registry:
    """The loaded models (async for the same reason)."""
    return (await get_service(request)).registry


ServiceDep = Annotated[Service, Depends(get_service)]
RegistryDep = Annotated[Registry, Depends(get_registry)]


def json_response(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """orjson-encoded JSON (fast; rejects NaN instead of writing invalid JSON)."""
    return Response(orjson.dumps(content), status, headers=headers, media_type="application/json")
