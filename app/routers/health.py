"""Liveness, readiness, health details and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from app.deps import ServiceDep, json_response
from app.errors import error_response
from app.schemas import Health, Status, error_responses

router = APIRouter(tags=["operations"])
LIVE = b'{"status":"ok"}'


@router.get("/livez", response_model=Status, summary="The process answers")
async def livez() -> Response:
    return Response(LIVE, media_type="application/json")


@router.get(
    "/readyz",
    response_model=Health,
    summary="200 only when every model is loaded and warmed",
    responses=error_responses(503),
)
async def readyz(service: ServiceDep) -> Response:
    health = service.registry.health(service.queue_depth)
    if service.registry.ready:
        return json_response(health)
    missing = [f"{n} ({s['status']})" for n, s in health["models"].items() if s["status"] != "ready"]
    details = [{"model": n, **s} for n, s in health["models"].items() if s["status"] != "ready"]
    return error_response(503, "not_ready", f"not ready: {', '.join(missing)}", details, {"Retry-After": "5"})


@router.get("/health", response_model=Health, summary="Readiness with details (always 200)")
async def health(service: ServiceDep) -> Response:
    return json_response(service.registry.health(service.queue_depth))


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"example": "http_requests_total{...} 1.0"}}}},
)
async def metrics(service: ServiceDep) -> Response:
    return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)
