"""Raw JSON body -> (N, 13) float64 features in one parse and one validation per instance.

orjson rejects NaN and Infinity tokens; the pydantic models (strict, finite, domains) do the rest.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
from pydantic import ValidationError

from app.errors import InvalidInput
from app.schemas import PriceFeatures
from models.features import BOSTON_FEATURES

N_FEATURES = len(BOSTON_FEATURES)
_validate = PriceFeatures.model_validate


class _NonFinite:
    """Stands for a NaN or Infinity token while looking for where it was sent."""


def _non_finite_path(body: bytes) -> str | None:
    """Where the first NaN, Infinity or overflowing number sits (`instances[2].CRIM`), or None."""
    marker = _NonFinite()
    try:
        value = json.loads(
            body,
            parse_constant=lambda _: marker,
            parse_float=lambda s: float(s) if math.isfinite(float(s)) else marker,  # 1e309
        )
    except (ValueError, RecursionError):
        return None
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:  # depth-first, in document order
        path, node = stack.pop()
        if node is marker:
            return path or "body"
        if isinstance(node, dict):
            stack += [(_where(path, str(k)), v) for k, v in reversed(node.items())]
        elif isinstance(node, list):
            names = BOSTON_FEATURES if path.endswith("features") and len(node) == N_FEATURES else None
            stack += [
                (f"{path}[{i}]" + (f" ({names[i]})" if names else ""), v)
                for i, v in reversed(list(enumerate(node)))
            ]
    return None


def parse_json(body: bytes) -> Any:
    """Bytes -> Python value; invalid JSON (including NaN, Infinity, bad UTF-8) is a 422."""
    if not body:
        raise InvalidInput("the request body is empty; send a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        where = _non_finite_path(body)  # only on this error path: the hot path parses once
        if where is not None:
            raise InvalidInput(f"{where}: NaN and Infinity are not numbers; send a finite number") from None
        raise InvalidInput(f"body is not valid JSON ({exc.msg})") from None


def _where(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _message(error: dict[str, Any], prefix: str, listed: bool) -> tuple[str, list[Any]]:
    name = str(error["loc"][0]) if error["loc"] else ""
    loc: list[Any] = [prefix] if prefix else []
    if listed and name in BOSTON_FEATURES:
        loc += ["features", BOSTON_FEATURES.index(name)]
        where = _where(prefix, f"features[{BOSTON_FEATURES.index(name)}] ({name})")
    else:
        loc.append(name)
        where = _where(prefix, name)
    kind = error["type"]
    if kind == "missing":
        text = f"{where}: missing field"
    elif kind == "extra_forbidden":
        text = f"{where}: unknown field (expected {', '.join(BOSTON_FEATURES)} or 'features')"
    else:
        text = f"{where}: {error['msg']}"
    return text, [{"loc": loc, "msg": error["msg"], "type": kind}]


def _listed(values: Any, prefix: str) -> dict[str, Any]:
    if not isinstance(values, list) or len(values) != N_FEATURES:
        raise InvalidInput(
            f"{_where(prefix, 'features')}: expected a list of {N_FEATURES} numbers in the order "
            f"{', '.join(BOSTON_FEATURES)}",
            [
                {
                    "loc": [prefix, "features"] if prefix else ["features"],
                    "msg": "wrong length",
                    "type": "list",
                }
            ],
        )
    return dict(zip(BOSTON_FEATURES, values, strict=True))


def instance_row(obj: Any, prefix: str = "") -> list[float]:
    """One instance in either form -> its 13 values in column order; 422 naming the field otherwise."""
    if not isinstance(obj, dict):
        raise InvalidInput(f"{prefix or 'body'}: expected a JSON object with the 13 features or 'features'")
    listed = len(obj) == 1 and ("features" in obj or "FEATURES" in obj)
    if listed:
        named = _listed(next(iter(obj.values())), prefix)
    else:
        named = {str(k).upper(): v for k, v in obj.items()}
        if len(named) != len(obj):
            raise InvalidInput(f"{prefix or 'body'}: a feature is given twice (upper- and lower-case)")
    try:
        features = _validate(named)
    except ValidationError as exc:
        text, details = _message(dict(exc.errors(include_url=False)[0]), prefix, listed)
        raise InvalidInput(text, details) from None
    values = features.__dict__
    return [values[name] for name in BOSTON_FEATURES]


def parse_single(body: bytes) -> list[list[float]]:
    """A /predict/price body -> one row of 13 values."""
    return [instance_row(parse_json(body))]


def parse_batch(body: bytes, limit: int) -> list[list[float]]:
    """A /predict/price/batch body -> N <= limit rows of 13 values; a bad instance is named by index."""
    obj = parse_json(body)
    if not isinstance(obj, dict) or set(obj) != {"instances"}:
        raise InvalidInput('body: expected {"instances": [...]}')
    instances = obj["instances"]
    if not isinstance(instances, list) or not instances:
        raise InvalidInput("instances: expected a non-empty list of instances")
    if len(instances) > limit:
        raise InvalidInput(f"instances: {len(instances)} instances, over the limit of {limit}")
    return [instance_row(item, f"instances[{i}]") for i, item in enumerate(instances)]
