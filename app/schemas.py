"""Request and response schemas (pydantic v2) with examples, so /docs is a usable manual."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    RootModel,
    Strict,
    Tag,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from models.features import BOSTON_DOMAINS, BOSTON_FEATURES

N_FEATURES = len(BOSTON_FEATURES)

# A typical row (the data set's first row), for examples.
FIRST_ROW = [0.00632, 18.0, 2.31, 0.0, 0.538, 6.575, 65.2, 4.09, 1.0, 296.0, 15.3, 396.9, 4.98]
EXAMPLE_ROW: dict[str, Any] = dict(zip(BOSTON_FEATURES, FIRST_ROW, strict=True))
STRICT = ConfigDict(strict=True, allow_inf_nan=False, extra="forbid")
ROW_FORMS = ("named", "listed")  # the tags of PriceInstance's two forms; they show in an error's loc


def _feature(name: str) -> Any:
    """One feature's type: a finite number in its domain (the same in both forms)."""
    d = BOSTON_DOMAINS[name]
    return Annotated[
        float,
        Strict(),
        Field(
            description=f"{d.description} ({d.unit})",
            ge=d.minimum,
            le=d.maximum,
            multiple_of=1 if d.integer else None,
            examples=[EXAMPLE_ROW[name]],
        ),
    ]


class _Row(BaseModel):
    def row(self) -> list[float]:
        """The 13 values in the data set's column order."""
        raise NotImplementedError


class _NamedRow(_Row):
    model_config = ConfigDict(**STRICT, json_schema_extra={"examples": [EXAMPLE_ROW]})

    @model_validator(mode="before")
    @classmethod
    def _upper_case_names(cls, value: Any) -> Any:
        """Lower-case names are accepted; a feature given in both cases is an error."""
        if not isinstance(value, dict):
            return value
        named = {k.upper() if isinstance(k, str) else k: v for k, v in value.items()}
        if len(named) != len(value):
            raise PydanticCustomError("duplicate_feature", "a feature is given twice (upper- and lower-case)")
        return named

    def row(self) -> list[float]:
        values = self.__dict__
        return [values[name] for name in BOSTON_FEATURES]


PriceFeatures: type[_Row] = create_model(  # type: ignore[call-overload]
    "PriceFeatures",
    __base__=_NamedRow,
    __doc__="The 13 features by name (lower-case names are accepted too), each a finite number.",
    **{name: (_feature(name), ...) for name in BOSTON_FEATURES},
)
if TYPE_CHECKING:
    FeatureValues = tuple[float, ...]
else:
    FeatureValues = tuple[tuple(_feature(name) for name in BOSTON_FEATURES)]
LIST_ORDER = f"expected a list of {N_FEATURES} numbers in the order {', '.join(BOSTON_FEATURES)}"


class PriceFeatureList(_Row):
    """The 13 features as one list, in the data set's column order (CRIM ... LSTAT)."""

    model_config = ConfigDict(
        allow_inf_nan=False,
        extra="forbid",
        json_schema_extra={"examples": [{"features": list(EXAMPLE_ROW.values())}]},
    )
    features: FeatureValues = Field(validation_alias=AliasChoices("features", "FEATURES"))

    @field_validator("features", mode="before")
    @classmethod
    def _thirteen(cls, value: Any) -> Any:
        if not isinstance(value, list) or len(value) != N_FEATURES:
            raise PydanticCustomError("feature_list", LIST_ORDER)
        return value

    def row(self) -> list[float]:
        return list(self.features)


def _form(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    return "listed" if len(value) == 1 and ("features" in value or "FEATURES" in value) else "named"


class PriceInstance(RootModel[Any]):
    """One house: the 13 features by name, or as a list in column order."""

    root: Annotated[
        Annotated[PriceFeatures, Tag("named")] | Annotated[PriceFeatureList, Tag("listed")],  # type: ignore[valid-type]
        Discriminator(
            _form,
            custom_error_type="instance",
            custom_error_message="expected a JSON object with the 13 features or 'features'",
        ),
    ]

    def row(self) -> list[float]:
        """The 13 values in the data set's column order."""
        return self.root.row()


class PriceBatchRequest(BaseModel):
    """Several instances, each in either form."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"instances": [EXAMPLE_ROW]}]})
    instances: list[PriceInstance] = Field(
        min_length=1, description="1 to PADDLE_SERVE_MAX_PRICE_BATCH (default 1000) instances"
    )


def error_location(loc: Sequence[Any]) -> str:
    """A validation error's loc as a reader writes it: `instances[1].features[12] (LSTAT)`.

    The part FastAPI adds (body, query, path) and the union's form tags are left out.
    """
    parts = list(loc[1:] if loc and loc[0] in ("body", "query", "path") else loc)
    text = ""
    for i, part in enumerate(parts):
        after_index = i == 0 or isinstance(parts[i - 1], int)
        if part in ROW_FORMS and after_index:
            continue
        if isinstance(part, int):
            text += f"[{part}]"
            last = i == len(parts) - 1
            if last and i and parts[i - 1] in ("features", "FEATURES") and 0 <= part < N_FEATURES:
                text += f" ({BOSTON_FEATURES[part]})"
        else:
            text = f"{text}.{part}" if text else str(part)
    return text


def validation_message(error: Mapping[str, Any]) -> str:
    """The one-line message of a validation error (the first of a request's)."""
    where, kind = error_location(error["loc"]), error["type"]
    if kind == "json_invalid":
        return f"body is not valid JSON ({error.get('ctx', {}).get('error', error['msg'])})"
    if kind == "missing" and tuple(error["loc"]) == ("body",):
        return "the request body is empty or missing; send a JSON object"
    if kind == "missing":
        return f"{where}: missing field"
    if kind == "extra_forbidden":
        return f"{where}: unknown field"
    return f"{where or 'body'}: {error['msg']}"


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
    "model": {"name": "mnist", "version": "2.3.0"},
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
