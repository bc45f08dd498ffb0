"""GET /models and /models/{name}: each model's card as a client needs it, without server paths."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from app.deps import ServiceDep, json_response
from app.errors import ModelUnavailable, NotFound
from app.pipelines.price import PricePipeline
from app.registry import ModelSlot, Registry
from app.schemas import error_responses
from models.features import BOSTON_DOMAINS

router = APIRouter(prefix="/models", tags=["models"])
CARD_KEYS = (
    "name",
    "version",
    "task",
    "network",
    "files",
    "input",
    "target",
    "classes",
    "normalization",
    "calibration",
    "metrics",
    "examples",
    "data",
    "config",
    "seed",
    "command",
    "versions",
    "created",
    "wall_time_s",
)
EXAMPLE = {"name": "boston", "version": "1.0.0", "status": "ready", "task": "regression"}


def _boston_extras(slot: ModelSlot) -> dict[str, Any]:
    price = slot.pipeline
    training = price.training_range() if isinstance(price, PricePipeline) else {}
    features = {}
    for name, domain in BOSTON_DOMAINS.items():
        features[name] = {
            **asdict(domain),
            "training_min": training.get(name, {}).get("min"),
            "training_max": training.get(name, {}).get("max"),
        }
    return {"features": features, "training_range": training}


def card_view(slot: ModelSlot) -> dict[str, Any]:
    """The public view of one model: status, the card's client-facing keys and how it is served."""
    view: dict[str, Any] = {"name": slot.name, "status": slot.status}
    if slot.loaded is None:
        return view
    card = slot.loaded.card
    view |= {key: card[key] for key in CARD_KEYS if key in card}
    view["status"] = slot.status
    if slot.serving is not None:
        view["serving"] = slot.serving
    if slot.loaded_at is not None:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(slot.loaded_at))
        view["loaded"] = {"at": when, "from": f"$MODELS_DIR/{slot.name}", "files": card.get("files")}
    if slot.name == "boston":
        view |= _boston_extras(slot)
    return view


@router.get(
    "",
    summary="Every model's card",
    responses={200: {"content": {"application/json": {"example": {"models": [EXAMPLE]}}}}},
)
async def list_models(service: ServiceDep) -> Response:
    return json_response({"models": [card_view(s) for s in service.registry.slots.values()]})


@router.get(
    "/{name}",
    summary="One model's card",
    responses={**error_responses(404, 503), 200: {"content": {"application/json": {"example": EXAMPLE}}}},
)
async def get_model(name: str, service: ServiceDep) -> Response:
    registry: Registry = service.registry
    slot = registry.slots.get(name)
    if slot is None:
        raise NotFound(f"no model named {name!r}; known: {', '.join(registry.slots)}")
    if slot.loaded is None:
        raise ModelUnavailable(f"model {name!r} is {slot.status}: {slot.error or 'not loaded yet'}")
    return json_response(card_view(slot))
