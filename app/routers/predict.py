"""POST /predict/price(/batch) and /predict/digit(/batch): typed FastAPI handlers calling a pipeline.

Each body and query parameter is declared once, in the handler's signature (the pydantic models of
`app.schemas`, `File` uploads, `Query` flags): FastAPI validates with it and writes `/openapi.json`
from it. `ContractRoute` (`app.routing`) serves these routes with a leaner handler.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, File, Query, Request

from app.deps import RegistryDep, ServiceDep
from app.errors import InvalidInput, UnsupportedMediaType
from app.pipelines.digit import DigitPipeline
from app.pipelines.price import PricePipeline
from app.routing import ContractRoute, is_json
from app.schemas import (
    EXAMPLE_ROW,
    DigitBatchResponse,
    DigitResponse,
    PriceBatchRequest,
    PriceBatchResponse,
    PriceInstance,
    PriceResponse,
    error_responses,
)
from app.uploads import UPLOAD_FORMATS, require_multipart


async def require_json(request: Request) -> None:
    """415 unless the body is sent as JSON (no content type at all is read as JSON too)."""
    content_type = request.headers.get("content-type")
    if content_type is not None and not is_json(content_type):
        raise UnsupportedMediaType(f"send application/json (got {content_type})")


async def multipart_only(request: Request) -> None:
    require_multipart(request)


ERRORS = error_responses(413, 415, 422, 500, 503)
# No content type at all is read as JSON (strict_content_type=False), as the service always has.
prices = APIRouter(
    prefix="/predict",
    tags=["predict"],
    route_class=ContractRoute,
    responses=ERRORS,
    dependencies=[Depends(require_json)],
    strict_content_type=False,
)
digits = APIRouter(
    prefix="/predict",
    tags=["predict"],
    route_class=ContractRoute,
    responses=ERRORS,
    dependencies=[Depends(multipart_only)],
)
LISTED = {"features": list(EXAMPLE_ROW.values())}
INSTANCE_EXAMPLES = {
    "named": {"summary": "features by name", "value": EXAMPLE_ROW},
    "list": {"summary": "features as a list", "value": LISTED},
}
BATCH_EXAMPLES = {"batch": {"summary": "two houses", "value": {"instances": [EXAMPLE_ROW, LISTED]}}}
Explain = Annotated[bool, Query(description="add each feature's contribution and the baseline")]
Debug = Annotated[bool, Query(description="add the 28x28 image the network saw, as base64 PNG")]
# OpenAPI 3.0's file (`format: binary`) beside 3.1's `contentMediaType`: older clients know only it
BINARY = {"format": "binary"}


def _binary_items(schema: dict[str, Any]) -> None:
    schema["items"].update(BINARY)
    schema["minItems"] = 1


UPLOAD = f"{UPLOAD_FORMATS}: a dark digit on light paper, or MNIST-style"
UPLOADS = UPLOAD + " (several files)"


@prices.post("/price", response_model=PriceResponse, summary="Price one house")
async def predict_price(
    instance: Annotated[PriceInstance, Body(openapi_examples=INSTANCE_EXAMPLES)],
    registry: RegistryDep,
    explain: Explain = False,
) -> dict[str, Any]:
    with registry.lease("boston", PricePipeline) as pipeline:
        return pipeline.predict([instance.row()], explain)[0]


@prices.post("/price/batch", response_model=PriceBatchResponse, summary="Price several houses")
async def predict_price_batch(
    batch: Annotated[PriceBatchRequest, Body(openapi_examples=BATCH_EXAMPLES)],
    registry: RegistryDep,
    explain: Explain = False,
) -> dict[str, Any]:
    with registry.lease("boston", PricePipeline) as pipeline:
        return {"predictions": pipeline.predict_batch([i.row() for i in batch.instances], explain)}


@digits.post("/digit", response_model=DigitResponse, summary="Read one handwritten digit")
async def predict_digit(
    file: Annotated[bytes, File(description=UPLOAD, json_schema_extra=BINARY)],
    registry: RegistryDep,
    debug: Debug = False,
) -> dict[str, Any]:
    with registry.lease("mnist", DigitPipeline) as pipeline:
        return (await pipeline.read([file], debug, many=False))[0]


@digits.post("/digit/batch", response_model=DigitBatchResponse, summary="Read several digits")
async def predict_digit_batch(
    files: Annotated[list[bytes], File(description=UPLOADS, json_schema_extra=_binary_items)],
    service: ServiceDep,
    debug: Debug = False,
) -> dict[str, Any]:
    limit = service.settings.max_digit_batch
    if len(files) > limit:
        raise InvalidInput(f"files: {len(files)} files, over the limit of {limit}")
    with service.registry.lease("mnist", DigitPipeline) as pipeline:
        return {"predictions": await pipeline.read(files, debug, many=True)}
