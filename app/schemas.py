"""Request and response schemas (pydantic v2) with examples, so /docs is a usable manual."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from models.features import BOSTON_DOMAINS, BOSTON_FEATURES

# A typical row (the data set's first row), for examples.
EXAMPLE_ROW: dict[str, Any] = {
    "CRIM": 0.00632,
    "ZN": 18.0,
    "INDUS": 2.31,
    "CHAS": 0.0,
    "NOX": 0.538,
    "RM": 6.575,
    "AGE": 65.2,
    "DIS": 4.09,
    "RAD": 1.0,
    "TAX": 296.0,
    "PTRATIO": 15.3,
    "B": 396.9,
    "LSTAT": 4.98,
}
STRICT = ConfigDict(strict=True, allow_inf_nan=False, extra="forbid")


def _feature_field(name: str) -> Any:
    d = BOSTON_DOMAINS[name]
    return Field(
        description=f"{d.description} ({d.unit})",
        ge=d.minimum,
        le=d.maximum,
        multiple_of=1 if d.integer else None,
        examples=[EXAMPLE_ROW[name]],
    )


PriceFeatures: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "PriceFeatures",
    __config__=ConfigDict(**STRICT, json_schema_extra={"examples": [EXAMPLE_ROW]}),
    __doc__="The 13 features by name (lower-case names are accepted too), each a finite number.",
    **{name: (float, _feature_field(name)) for name in BOSTON_FEATURES},
)


class PriceFeatureList(BaseModel):
    """The 13 features as one list, in the data set's column order (CRIM ... LSTAT)."""

    model_config = ConfigDict(
        **STRICT, json_schema_extra={"examples": [{"features": list(EXAMPLE_ROW.values())}]}
    )
    features: Annotated[list[float], Field(min_length=13, max_length=13)]


PriceInstance = PriceFeatures | PriceFeatureList


class PriceBatchRequest(BaseModel):
    """Several instances, each in either form."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"instances": [EXAMPLE_ROW]}]})
    instances: list[PriceInstance] = Field(  # type: ignore[valid-type]
        min_length=1, description="1 to PADDLE_SERVE_MAX_PRICE_BATCH (default 1000) instances"
    )


class ModelRef(BaseModel):
    name: str = Field(examples=["boston"])
    version: str = Field(examples=["1.0.0"])


class PriceExplanation(BaseModel):
    """`baseline + sum(contributions) == price`, all in $1000s."""

    baseline: float
    contributions: dict[str, float]


class PriceResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "price": 29.94,
                    "price_usd": 29940.0,
                    "model": {"name": "boston", "version": "1.0.0"},
                    "warnings": [],
                    "explanation": None,
                }
            ]
        }
    )

    price: float = Field(description="median value in $1000s (MEDV)", examples=[29.94])
    price_usd: float = Field(description="the same in US dollars", examples=[29940.0])
    model: ModelRef
    warnings: list[str] = Field(description="features outside the range seen in training")
    explanation: PriceExplanation | None = Field(None, description="with ?explain=true")


class PriceBatchResponse(BaseModel):
    predictions: list[PriceResponse]


class TopDigit(BaseModel):
    digit: int = Field(ge=0, le=9)
    probability: float


DIGIT_EXAMPLE: dict[str, Any] = {
    "digit": 7,
    "confidence": 0.9962,
    "probabilities": [0.0001, 0.0004, 0.0021, 0.0005, 0.0001, 0.0001, 0.0, 0.9962, 0.0001, 0.0004],
    "top": [
        {"digit": 7, "probability": 0.9962},
        {"digit": 2, "probability": 0.0021},
        {"digit": 3, "probability": 0.0005},
    ],
    "model": {"name": "mnist", "version": "2.1.0"},
    "input_image": None,
}


class DigitResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [DIGIT_EXAMPLE]})

    digit: int = Field(ge=0, le=9, examples=[7])
    confidence: float = Field(examples=[0.998])
    probabilities: list[float] = Field(min_length=10, max_length=10, description="calibrated, sum 1")
    top: list[TopDigit] = Field(description="the three most likely digits")
    model: ModelRef
    input_image: str | None = Field(None, description="with ?debug=true: base64 PNG of the 28x28 input")


class DigitBatchResponse(BaseModel):
    predictions: list[DigitResponse]


class ErrorBody(BaseModel):
    status: int = Field(examples=[422])
    code: str = Field(examples=["invalid_input"])
    message: str = Field(examples=["CRIM: Input should be greater than or equal to 0"])
    details: list[Any] | None = None


class ErrorResponse(BaseModel):
    """The one shape of every 4xx and 5xx answer."""

    error: ErrorBody
    request_id: str = Field(examples=["3f2a9c0d7b6e4e1f8a0b1c2d3e4f5a6b"])


class Status(BaseModel):
    status: str = Field(examples=["ok"])


class ModelStatus(BaseModel):
    status: str = Field(examples=["ready"])
    version: str | None = None
    error: str | None = None
    load_seconds: float | None = None


class Health(BaseModel):
    status: str = Field(examples=["ready"])
    models: dict[str, ModelStatus]
    queue_depth: int = 0


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the listed statuses, all with the error shape."""
    return {code: {"model": ErrorResponse, "description": _REASONS.get(code, "error")} for code in codes}


_REASONS = {
    404: "unknown name",
    413: "body or image too large",
    415: "unsupported content type or image format",
    422: "invalid input (the message names the field)",
    500: "unexpected error (generic message)",
    503: "model unavailable, queue full or deadline passed (see Retry-After)",
}
