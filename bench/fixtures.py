"""What the benchmark sends, and model folders to serve when the trained ones are not there yet."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from models.artifacts import fixture_card
from models.features import BOSTON_COLUMNS, BOSTON_FEATURES, pixel_scaling_contract

# A real row of the Boston data set (its first), by feature name.
PRICE_ROW: dict[str, float] = dict(
    zip(
        BOSTON_FEATURES,
        [0.00632, 18.0, 2.31, 0.0, 0.538, 6.575, 65.2, 4.09, 1.0, 296.0, 15.3, 396.9, 4.98],
        strict=True,
    )
)
# Column ranges of the data set, for fixture cards (13 features, then MEDV).
BOSTON_MIN = [0.006, 0.0, 0.46, 0.0, 0.385, 3.56, 2.9, 1.13, 1.0, 187.0, 12.6, 0.32, 1.73, 5.0]
BOSTON_MAX = [88.98, 100.0, 27.74, 1.0, 0.871, 8.78, 100.0, 12.13, 24.0, 711.0, 22.0, 396.9, 37.97, 50.0]


def price_body() -> bytes:
    return json.dumps(PRICE_ROW).encode()


def digit_png() -> bytes:
    """A 28x28 greyscale PNG of a hand-drawn-looking 7, white on black, like an MNIST digit."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (28, 28), 0)
    draw = ImageDraw.Draw(image)
    draw.line([(7, 7), (21, 7), (13, 23)], fill=255, width=3)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _card(name: str, task: str, network: dict[str, Any]) -> dict[str, Any]:
    return {
        **fixture_card(
            name, task, network, version="0.0.0-bench", source="bench/fixtures.py (random weights)"
        ),
        "metrics": {},
    }


def write_fixture_models(root: Path) -> Path:
    """Random-weight `boston` and `mnist` folders (default DigitNet size) under `root`; returns `root`."""
    import paddle

    from models.artifacts import write_model_folder
    from models.networks import DigitNet, Regressor

    paddle.seed(0)
    card = _card("boston", "regression", {"class": "Regressor", "kwargs": {"in_features": 13}})
    card |= {
        "input": {"features": list(BOSTON_FEATURES)},
        "normalization": {"columns": list(BOSTON_COLUMNS), "min": BOSTON_MIN, "max": BOSTON_MAX},
        "target": {"name": "MEDV", "unit": "$1000s"},
        "examples": [{"row": -10, "features": PRICE_ROW, "MEDV": 24.0}],
    }
    write_model_folder(root / "boston", Regressor(), card)
    card = _card("mnist", "classification", {"class": "DigitNet", "kwargs": {}})
    card |= {
        "input": {"image_size": [28, 28], "pixel_scaling": pixel_scaling_contract()},
        "classes": [str(d) for d in range(10)],
        "calibration": {"temperature": 1.0},
    }
    network = DigitNet()
    network.eval()
    write_model_folder(root / "mnist", network, card)
    return root


def models_root(repo_models: Path, scratch: Path) -> tuple[Path, str]:
    """The repository's model folders if both are there, else fixture folders in `scratch`."""
    if all((repo_models / name / "card.json").is_file() for name in ("boston", "mnist")):
        return repo_models, "trained (models/)"
    return write_fixture_models(scratch), "random-weight fixtures (bench/fixtures.py)"


def v2_price_body() -> bytes:
    """The price case's row as an Open Inference Protocol request (JSON)."""
    features = {"name": "features", "shape": [1, 13], "datatype": "FP64", "data": list(PRICE_ROW.values())}
    return json.dumps({"inputs": [features]}).encode()


def v2_binary(name: str, shape: list[int], datatype: str, raw: bytes) -> tuple[bytes, str]:
    """A binary-extension request (as Triton's client sends it): body and Inference-Header-Content-Length."""
    spec = {"name": name, "shape": shape, "datatype": datatype, "parameters": {"binary_data_size": len(raw)}}
    head = json.dumps({"inputs": [spec], "parameters": {"binary_data_output": True}}).encode()
    return head + raw, str(len(head))


def v2_pixels_body() -> tuple[bytes, str]:
    """The digit case's 28x28 image as raw UINT8 pixels (it already is in MNIST form)."""
    from PIL import Image

    pixels = Image.open(io.BytesIO(digit_png())).convert("L").tobytes()
    return v2_binary("pixels", [1, 28, 28], "UINT8", pixels)


def v2_image_body() -> tuple[bytes, str]:
    """The digit case's PNG as one BYTES element (a 4-byte little-endian length, then the file)."""
    png = digit_png()
    return v2_binary("image", [1], "BYTES", len(png).to_bytes(4, "little") + png)


def v2_pixels_json_body() -> bytes:
    """The pixels case in JSON, for a server without the binary extension (MLServer's REST)."""
    from PIL import Image

    pixels = list(Image.open(io.BytesIO(digit_png())).convert("L").tobytes())
    tensor = {"name": "pixels", "shape": [1, 28, 28], "datatype": "UINT8", "data": pixels}
    return json.dumps({"inputs": [tensor]}).encode()


def v2_image_base64_body() -> bytes:
    """The image case in JSON, the PNG base64-encoded (MLServer's `content_type: base64`)."""
    import base64

    data = base64.b64encode(digit_png()).decode("ascii")
    tensor = {"name": "image", "shape": [1], "datatype": "BYTES", "data": [data]}
    return json.dumps({"inputs": [{**tensor, "parameters": {"content_type": "base64"}}]}).encode()
