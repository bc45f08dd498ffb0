"""The Open Inference Protocol (KServe v2) beside /predict/*: health, metadata and inference.

Errors on these paths take the protocol's shape, `{"error": "..."}` (see `app.errors`). The infer
routes call the same pipelines as /predict/price and /predict/digit.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.deps import ServiceDep, json_response
from app.errors import InvalidInput, ModelUnavailable, NotFound
from app.pipelines.digit import DigitPipeline
from app.pipelines.price import PricePipeline
from app.registry import ModelSlot
from app.service import Service
from app.v2 import models as v2_models
from app.v2.schemas import (
    InferenceRequest,
    InferenceResponse,
    Live,
    ModelMetadata,
    ModelReady,
    Ready,
    ServerMetadata,
    V2Error,
)
from app.v2.tensors import HEADER_LENGTH, Output, Tensor, encode_response, input_tensors, parse_request

router = APIRouter(prefix="/v2", tags=["open inference protocol"])
EXTENSIONS = ["binary_tensor_data"]
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": V2Error, "description": "bad request (the message names the tensor)"},
    404: {"model": V2Error, "description": "unknown model or version"},
    413: {"model": V2Error, "description": "body or image too large"},
    503: {"model": V2Error, "description": "model not ready, or overloaded (see Retry-After)"},
}
INFER_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/InferenceRequest"}},
            "application/octet-stream": {
                "schema": {"type": "string", "format": "binary"},
                "description": "binary tensor data extension: Inference-Header-Content-Length bytes of "
                "InferenceRequest JSON, then the inputs' raw tensors",
            },
        },
    }
}


def _slot(service: Service, name: str, version: str | None) -> ModelSlot:
    """The model `name` (at `version`, if given): 404 if unknown, 503 while it cannot answer."""
    slot = service.registry.slots.get(name)
    if slot is None:
        raise NotFound(f"unknown model {name!r}; this server has {', '.join(service.registry.slots)}")
    if slot.loaded is None or slot.pipeline is None:
        raise ModelUnavailable(service.registry.why(name), headers={"Retry-After": "30"})
    if version is not None and version != slot.loaded.version:
        raise NotFound(f"model {name!r} has no version {version!r}; it serves {slot.loaded.version!r}")
    return slot


@router.get("", response_model=ServerMetadata, summary="Server metadata")
async def server_metadata(request: Request) -> dict[str, Any]:
    return {"name": request.app.title, "version": request.app.version, "extensions": EXTENSIONS}


@router.get("/health/live", response_model=Live, summary="The server is live")
async def live() -> dict[str, bool]:
    return {"live": True}


@router.get("/health/ready", response_model=Ready, responses=ERRORS, summary="Every model is ready")
async def ready(service: ServiceDep) -> Response:
    ok = service.registry.ready
    return json_response({"ready": ok}, 200 if ok else 503, None if ok else {"Retry-After": "5"})


@router.get("/models/{name}", response_model=ModelMetadata, responses=ERRORS, summary="Model metadata")
@router.get("/models/{name}/versions/{version}", response_model=ModelMetadata, responses=ERRORS)
async def model_metadata(name: str, service: ServiceDep, version: str | None = None) -> dict[str, Any]:
    slot = _slot(service, name, version)
    signature = v2_models.SIGNATURES[name]
    return {
        "name": name,
        "versions": [slot.loaded.version if slot.loaded else ""],
        "platform": "paddle",
        "inputs": [t.model_dump() for t in signature.inputs],
        "outputs": [t.model_dump() for t in signature.outputs],
    }


@router.get("/models/{name}/ready", response_model=ModelReady, responses=ERRORS, summary="Model ready")
@router.get("/models/{name}/versions/{version}/ready", response_model=ModelReady, responses=ERRORS)
async def model_ready(name: str, service: ServiceDep, version: str | None = None) -> Response:
    try:
        _slot(service, name, version)
    except ModelUnavailable:
        return json_response({"name": name, "ready": False}, 503, {"Retry-After": "5"})
    return json_response({"name": name, "ready": True})


def _outputs(name: str, request: InferenceRequest, arrays: v2_models.Arrays) -> list[Output]:
    """The outputs asked for (all by default), each in binary or JSON as the request says."""
    default_binary = bool(request.parameters and request.parameters.binary_data_output)
    if request.outputs is None:
        return [Output(n, _datatype(name, n), a, default_binary) for n, a in arrays.items()]
    outputs = []
    for asked in request.outputs:
        if asked.name not in arrays:
            known = ", ".join(repr(n) for n in arrays)
            raise InvalidInput(f"unknown output {asked.name!r}; model {name!r} has {known}")
        flag = asked.parameters.binary_data if asked.parameters else None
        binary = default_binary if flag is None else flag
        outputs.append(Output(asked.name, _datatype(name, asked.name), arrays[asked.name], binary))
    return outputs


def _datatype(model: str, output: str) -> str:
    return next(t.datatype for t in v2_models.SIGNATURES[model].outputs if t.name == output)


def _tensor(
    name: str, version: str | None, body: bytes, request: Request, limit: int
) -> tuple[InferenceRequest, Tensor]:
    """The request's one input, parsed and checked against the model (and the path's name, version)."""
    parsed, binary = parse_request(body, request.headers.get(HEADER_LENGTH))
    for field, path_value in (("model_name", name), ("model_version", version)):
        sent = getattr(parsed, field)
        if sent is not None and path_value is not None and sent != path_value:
            raise InvalidInput(f"{field}: {sent!r} in the body, {path_value!r} in the path")
    v2_models.check_input(name, parsed.inputs, limit)
    (tensor,) = input_tensors(parsed, binary)
    return parsed, tensor


async def _infer(request: Request, name: str, version: str | None) -> Response:
    service: Service = request.app.state.service
    _slot(service, name, version)
    body = await request.body()
    if name == "boston":
        with service.registry.lease(name, PricePipeline) as price:
            parsed, tensor = _tensor(name, version, body, request, service.settings.max_price_batch)
            arrays, loaded_version = v2_models.infer_price(price, tensor), price.model["version"]
    else:
        with service.registry.lease(name, DigitPipeline) as digit:
            parsed, tensor = _tensor(name, version, body, request, service.settings.max_digit_batch)
            arrays, loaded_version = await v2_models.infer_digit(digit, tensor), digit.model["version"]
    head: dict[str, Any] = {"model_name": name, "model_version": loaded_version}
    if parsed.id is not None:
        head["id"] = parsed.id
    body, json_length = encode_response(head, _outputs(name, parsed, arrays))
    if json_length is None:
        return Response(body, media_type="application/json")
    headers = {"Inference-Header-Content-Length": str(json_length)}
    return Response(body, headers=headers, media_type="application/octet-stream")


@router.post(
    "/models/{name}/infer",
    response_model=InferenceResponse,
    responses=ERRORS,
    summary="Inference (JSON, or the binary tensor data extension)",
    openapi_extra=INFER_BODY,
)
async def infer(name: str, request: Request) -> Response:
    return await _infer(request, name, None)


@router.post(
    "/models/{name}/versions/{version}/infer",
    response_model=InferenceResponse,
    responses=ERRORS,
    summary="Inference at a version",
    openapi_extra=INFER_BODY,
)
async def infer_version(name: str, version: str, request: Request) -> Response:
    return await _infer(request, name, version)
