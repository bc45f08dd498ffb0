"""The app factory: `create_app(settings)`; `app` is the default instance for `uvicorn app.main:app`.

Models load in the lifespan, never at import: importing this module is cheap.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from pydantic.json_schema import models_json_schema

from app.admission import Admission, route_classes
from app.auth import admin_token, api_tokens
from app.errors import install_error_handlers
from app.logging import configure_logging
from app.metrics import Metrics
from app.middleware import EarlyRefusal, ServiceMiddleware
from app.probes import ProbeServer
from app.routers import health, models, predict, repository, ui, v2
from app.service import Service
from app.settings import Settings
from app.v2.schemas import InferenceRequest

DESCRIPTION = (
    "Boston house prices and MNIST digits, trained with PaddlePaddle. "
    'Every error answers `{"error": {status, code, message, details}, "request_id"}`.'
)


def restore_signal_handlers() -> None:
    """`import paddle` installs C++ handlers that turn SIGTERM into a crash; give the server's back."""
    if threading.current_thread() is not threading.main_thread():
        return  # signal.signal works only there (e.g. not under TestClient)
    for sig in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(sig)
        if handler is not None:  # None: not installed from Python, leave it
            signal.signal(sig, handler)


def reload_on_sighup(service: Service) -> None:
    """SIGHUP reloads every model, as the repository API's load does (each worker its own)."""
    if threading.current_thread() is not threading.main_thread():
        return  # not under TestClient
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    def reload() -> None:
        task = loop.create_task(service.reload_all())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    loop.add_signal_handler(signal.SIGHUP, reload)


# Under overload about a thousand requests wait in the server, each holding a few hundred objects
# for up to the queue deadline: at the default thresholds (700, 10, 10) they survive into the old
# generations and every full collection scans them. Measured with gc.callbacks during
# bench.overload's digit steps (10 s each): at 32 connections the collector took 0.43 s, at 1,024
# 2.1 s (18 full collections of ~58 ms each, pauses every request in flight feels); with these
# thresholds 0.04 s at 1,024 (one young collection). Memory after the curve is the same: the
# request path leaves next to no reference cycles for the collector to find.
GC_THRESHOLDS = (100_000, 50, 100)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load and warm every model before serving; a model that fails stays unavailable (/readyz 503)."""
    service: Service = app.state.service
    settings = service.settings
    probes = None
    if settings.probe_port:  # answers /livez at once, /readyz once the models below are ready
        probes = ProbeServer(service.registry, settings.host, settings.probe_port, settings.probe_stall_s)
        probes.start()
    await service.start()
    restore_signal_handlers()
    reload_on_sighup(service)
    # Paddle, ONNX Runtime and FastAPI leave ~170k long-lived objects: a full collection scans them
    # all (~65 ms, a pause every request in flight feels, the digit route's p99). Start-up is over:
    # move them out of the collector's sight.
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        yield
    finally:
        await service.close()
        if probes is not None:
            probes.stop()


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, the v2 request models (their routes read a binary body) and the bearer scheme."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        _, defs = models_json_schema(
            [(InferenceRequest, "validation")], ref_template="#/components/schemas/{model}"
        )
        schema.setdefault("components", {}).setdefault("schemas", {}).update(defs["$defs"])
        _declare_bearer(schema)
        app.openapi_schema = schema
    return app.openapi_schema


def _declare_bearer(schema: dict[str, Any]) -> None:
    """The bearer scheme (so /docs has "Authorize"): required by the repository routes, and by the
    inference routes when PADDLE_SERVE_API_TOKENS is set (optional in the schema: it may not be)."""
    schema["components"].setdefault("securitySchemes", {})["bearer"] = {"type": "http", "scheme": "bearer"}
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            if path.startswith("/v2/repository/"):
                operation["security"] = [{"bearer": []}]
            elif path.startswith("/predict/") or path.endswith("/infer"):
                operation["security"] = [{}, {"bearer": []}]


def _body_limit(settings: Settings) -> Any:
    upload, json_limit = settings.max_upload_bytes, settings.max_json_bytes
    uploads = ("/predict/digit", "/v2/models/mnist/")  # a v2 `image` tensor holds encoded files
    return lambda path: upload if path.startswith(uploads) else json_limit


def _add_middleware(app: FastAPI, settings: Settings, metrics: Metrics) -> None:
    """Admission and the service middleware inside, CORS outermost (it answers preflights itself)."""
    admission = Admission(
        route_classes(settings), settings.admission_waiting, settings.queue_deadline_s, metrics
    )
    app.state.admission = admission
    app.state.refuse_early = EarlyRefusal(admission, metrics)  # called by app.protocol
    app.add_middleware(
        ServiceMiddleware,
        metrics=metrics,
        body_limit=_body_limit(settings),
        access_log=settings.access_log,
        admission=admission,
        api_tokens=api_tokens(settings),
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origin_list,
        allow_methods=["GET", "POST"],
        allow_headers=["*"],
        expose_headers=["X-Request-ID", "Retry-After"],
        allow_credentials=False,
    )


DOCS_ROUTES = frozenset(
    {"openapi", "static-offline-docs", "custom_swagger_ui_html", "swagger_ui_redirect", "redoc_html"}
)


def _is_docs(route: Any) -> bool:
    """Whether `route` is one of the docs' routes (`FastAPIOffline`'s, by name)."""
    return getattr(route, "name", None) in DOCS_ROUTES


def create_app(settings: Settings | None = None) -> FastAPI:
    """A configured app; models load when its lifespan starts."""
    settings = settings or Settings()
    configure_logging(settings.log_level)
    metrics = Metrics()
    # /docs and /redoc load Swagger UI and ReDoc from the package, not a CDN: users may be offline.
    # FastAPI's native telemetry looks up the global OpenTelemetry providers on every request.
    otel = settings.otel
    app = FastAPIOffline(
        title="paddle-serve",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        telemetry={"tracing": otel, "metrics": otel, "logs": otel},
    )
    app.state.service = Service(settings, metrics)
    app.state.admin_token = admin_token(settings)  # read once; never logged
    routers = (
        predict.prices,
        predict.digits,
        v2.router,
        repository.router,
        health.router,
        models.router,
        ui.router,
    )
    for router in routers:
        app.include_router(router)
    # The service's routers before the docs' routes, which FastAPI adds first: a request is matched
    # against the routes in order, and the five docs routes cost a price request 7 of its ~83 µs
    # in-process. No path of one is a path of the other, so no request changes route.
    app.router.routes.sort(key=_is_docs)
    app.mount("/static", StaticFiles(directory=ui.STATIC_DIR, check_dir=False), name="static")
    install_error_handlers(app)
    _add_middleware(app, settings, metrics)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


app = create_app()
