"""The model repository extension of the Open Inference Protocol (Triton's): list, load, unload.

Off unless an admin token is configured (`app.auth`); every route needs it as a bearer token.
A load reads the model's folder again, verifies it and swaps it in without dropping a request;
a load that fails leaves the old version serving and answers 400 with the reason.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.auth import AdminDep
from app.deps import ServiceDep
from app.errors import InvalidInput, NotFound
from app.loading import BuildError
from app.service import Service
from app.v2.schemas import V2Error

router = APIRouter(prefix="/v2/repository", tags=["model repository"])
STATES = {"ready": "READY", "loading": "LOADING"}  # anything else: UNAVAILABLE
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": V2Error, "description": "the folder could not be loaded (the old version serves on)"},
    401: {"model": V2Error, "description": "no admin token sent (WWW-Authenticate: Bearer)"},
    403: {"model": V2Error, "description": "wrong admin token, or the API is off (no token configured)"},
    404: {"model": V2Error, "description": "unknown model"},
}


class RepositoryModel(BaseModel):
    name: str = Field(examples=["mnist"])
    version: str | None = Field(None, examples=["2.0.0"])
    state: str = Field(examples=["READY"], description="READY, LOADING or UNAVAILABLE")
    reason: str = Field("", description="why it is unavailable")


def _known(service: Service, name: str) -> None:
    if name not in service.registry.slots:
        raise NotFound(f"unknown model {name!r}; the repository has {', '.join(service.registry.slots)}")


@router.post("/index", response_model=list[RepositoryModel], responses=ERRORS, summary="List the models")
async def index(service: ServiceDep, _: AdminDep) -> list[dict[str, Any]]:
    return [
        {
            "name": slot.name,
            "version": slot.loaded.version if slot.loaded else None,
            "state": STATES.get(slot.status, "UNAVAILABLE"),
            "reason": "" if slot.status == "ready" else slot.error or slot.status,
        }
        for slot in service.registry.slots.values()
    ]


@router.post("/models/{name}/load", responses=ERRORS, summary="Load (or reload) a model from its folder")
async def load(name: str, service: ServiceDep, _: AdminDep) -> dict[str, Any]:
    _known(service, name)
    try:
        await service.reload(name)
    except BuildError as exc:
        raise InvalidInput(f"model {name!r} not loaded: {service.registry.public(str(exc))}") from None
    return {}


@router.post("/models/{name}/unload", responses=ERRORS, summary="Stop serving a model until it is loaded")
async def unload(name: str, service: ServiceDep, _: AdminDep) -> dict[str, Any]:
    _known(service, name)
    await service.unload(name)
    return {}
