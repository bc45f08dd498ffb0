"""Triton's own HTTP client (`tritonclient[http]` from PyPI), unmodified, against the live service.

The committed models, served by `python -m app`; answers compared with /predict/price and
/predict/digit, in binary (the client's default) and in JSON mode, batch sizes 1 and 16.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from models.features import BOSTON_FEATURES
from scripts.live_server import REPO, LiveServer
from tests.app.conftest import drawn_digit_png

httpclient = pytest.importorskip("tritonclient.http")
utils = pytest.importorskip("tritonclient.utils")

ROW = [0.00632, 18.0, 2.31, 0.0, 0.538, 6.575, 65.2, 4.09, 1.0, 296.0, 15.3, 396.9, 4.98]


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with LiveServer() as live:
        yield live


@pytest.fixture(scope="module")
def client(server: LiveServer) -> httpclient.InferenceServerClient:
    return httpclient.InferenceServerClient(server.url.removeprefix("http://"))


def digit_png(i: int) -> bytes:
    """Upload number `i`: a dark stroke figure on paper, its size and place varying with `i`."""
    return drawn_digit_png(size=100 + 10 * i, offset=(10 + 3 * i, 12 + 2 * (i % 5)))


def rows(n: int) -> np.ndarray:
    rng = np.random.default_rng(n)
    x = np.tile(np.array(ROW, np.float64), (n, 1))
    return x * rng.uniform(0.8, 1.0, x.shape) * (np.arange(13) != 3)  # CHAS stays 0, B within 396.9


def test_health_and_metadata(client: httpclient.InferenceServerClient) -> None:
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("boston") and client.is_model_ready("mnist")
    assert not client.is_model_ready("resnet")
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    meta = client.get_model_metadata("mnist")
    assert {t["name"]: t["shape"] for t in meta["inputs"]} == {"image": [-1], "pixels": [-1, 28, 28]}
    version = meta["versions"][0]
    assert client.get_model_metadata("mnist", version)["name"] == "mnist"


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("n", [1, 16])
def test_boston_equals_predict_price(
    client: httpclient.InferenceServerClient, server: LiveServer, n: int, binary: bool
) -> None:
    x = rows(n)
    features = httpclient.InferInput("features", list(x.shape), "FP64")
    features.set_data_from_numpy(x, binary_data=binary)
    price = httpclient.InferRequestedOutput("price", binary_data=binary)
    result = client.infer("boston", [features], outputs=[price], request_id="b-1")
    assert result.get_response()["id"] == "b-1"
    expected = [
        httpx.post(f"{server.url}/predict/price", json=dict(zip(BOSTON_FEATURES, r, strict=True))).json()[
            "price"
        ]
        for r in x.tolist()
    ]
    np.testing.assert_array_equal(result.as_numpy("price")[:, 0], expected)


def digits(server: LiveServer, files: list[bytes]) -> list[dict]:
    parts = [("files", (f"{i}.png", f, "image/png")) for i, f in enumerate(files)]
    r = httpx.post(f"{server.url}/predict/digit/batch?debug=true", files=parts)
    assert r.status_code == 200, r.text
    return list(r.json()["predictions"])


@pytest.mark.parametrize("n", [1, 16])
def test_mnist_images_in_binary_equal_predict_digit(
    client: httpclient.InferenceServerClient, server: LiveServer, n: int
) -> None:
    files = [digit_png(i) for i in range(n)]
    image = httpclient.InferInput("image", [n], "BYTES")
    image.set_data_from_numpy(np.array(files, dtype=np.object_))  # binary: the client's default
    result = client.infer("mnist", [image])
    expected = digits(server, files)
    want = np.array([a["probabilities"] for a in expected], np.float32)
    np.testing.assert_array_equal(result.as_numpy("probabilities"), want)
    assert result.as_numpy("digit").tolist() == [a["digit"] for a in expected]


@pytest.mark.parametrize("binary", [True, False])
def test_mnist_pixels_with_a_requested_output(
    client: httpclient.InferenceServerClient, server: LiveServer, binary: bool
) -> None:
    import base64
    import io

    from PIL import Image

    files = [digit_png(i) for i in range(16)]
    expected = digits(server, files)
    pixels = np.stack(
        [np.asarray(Image.open(io.BytesIO(base64.b64decode(a["input_image"])))) for a in expected]
    )
    tensor = httpclient.InferInput("pixels", list(pixels.shape), "UINT8")
    tensor.set_data_from_numpy(pixels.astype(np.uint8), binary_data=binary)
    digit = httpclient.InferRequestedOutput("digit", binary_data=binary)
    result = client.infer("mnist", [tensor], outputs=[digit])
    assert result.as_numpy("digit").tolist() == [a["digit"] for a in expected]
    assert result.as_numpy("probabilities") is None  # not asked for


def test_a_wrong_shape_is_an_inference_server_exception(client: httpclient.InferenceServerClient) -> None:
    features = httpclient.InferInput("features", [1, 12], "FP64")
    features.set_data_from_numpy(np.zeros((1, 12)))
    with pytest.raises(utils.InferenceServerException, match=r"shape \[1, 12\], expected \[-1, 13\]"):
        client.infer("boston", [features])


def test_the_readmes_example_runs_as_written(server: LiveServer) -> None:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Open Inference Protocol") :]
    (code,) = re.findall(r"```python\n(.*?)```", section[: section.index("\n## ", 3)], flags=re.S)
    assert '"127.0.0.1:8000"' in code
    code = code.replace('"127.0.0.1:8000"', repr(server.url.removeprefix("http://")))  # its port here
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr[-3000:]
    price, digit = run.stdout.strip().splitlines()
    assert price.startswith("[[29.1398") and digit == "[1]", run.stdout


def test_the_model_repository_with_the_admin_token() -> None:
    with LiveServer({"PADDLE_SERVE_ADMIN_TOKEN": "t0ken"}) as live:
        client = httpclient.InferenceServerClient(live.url.removeprefix("http://"))
        headers = {"Authorization": "Bearer t0ken"}
        index = client.get_model_repository_index(headers=headers)
        assert {m["name"]: m["state"] for m in index} == {"boston": "READY", "mnist": "READY"}
        client.unload_model("mnist", headers=headers)
        assert not client.is_model_ready("mnist") and client.is_model_ready("boston")
        client.load_model("mnist", headers=headers)
        assert client.is_model_ready("mnist") and client.is_server_ready()
        with pytest.raises(utils.InferenceServerException, match="admin token"):
            client.load_model("boston", headers={"Authorization": "Bearer wrong"})
