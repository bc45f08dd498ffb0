"""The Open Inference Protocol routes by hand: shapes, errors, the binary extension, equal answers.

The answers must equal /predict/price's and /predict/digit's for the same inputs, batched or not.
"""

from __future__ import annotations

import base64
import io
import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from models.features import BOSTON_FEATURES
from tests.app.conftest import drawn_digit_png, make_client
from tests.app.model_fixtures import ROW, write_models

BOSTON = "/v2/models/boston/infer"
MNIST = "/v2/models/mnist/infer"
ROWS = [ROW, {**ROW, "RM": 7.5}, {**ROW, "CRIM": 95.0, "LSTAT": 1.0}]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with make_client(write_models(tmp_path_factory.mktemp("v2-models")), prepare_processes=0) as c:
        yield c


def features(rows: list[dict[str, float]], datatype: str = "FP64") -> dict[str, Any]:
    data = [[r[n] for n in BOSTON_FEATURES] for r in rows]
    return {"name": "features", "shape": [len(rows), 13], "datatype": datatype, "data": data}


def binary_request(inputs: list[tuple[dict[str, Any], bytes]], **extra: Any) -> tuple[bytes, dict[str, str]]:
    """JSON header, then each input's raw bytes: the binary tensor data extension."""
    specs = [{**spec, "parameters": {"binary_data_size": len(raw)}} for spec, raw in inputs]
    head = json.dumps({"inputs": specs, **extra}).encode()
    body = head + b"".join(raw for _, raw in inputs)
    return body, {"Inference-Header-Content-Length": str(len(head))}


def bytes_tensor(files: list[bytes]) -> bytes:
    return b"".join(struct.pack("<I", len(f)) + f for f in files)


def binary_outputs(response: Any) -> dict[str, np.ndarray]:
    """The outputs of a binary response, by name, as arrays."""
    split = int(response.headers["inference-header-content-length"])
    head, offset, arrays = json.loads(response.content[:split]), split, {}
    dtypes = {"FP32": "<f4", "FP64": "<f8", "INT64": "<i8"}
    for out in head["outputs"]:
        size = out["parameters"]["binary_data_size"]
        raw = response.content[offset : offset + size]
        arrays[out["name"]] = np.frombuffer(raw, dtypes[out["datatype"]]).reshape(out["shape"])
        offset += size
    assert offset == len(response.content)
    return arrays


def error(response: Any, status: int, *words: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    for word in words:
        assert word in body["error"], body["error"]
    return str(body["error"])


def test_server_health_and_metadata(client: TestClient) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    meta = client.get("/v2").json()
    assert meta["name"] == "paddle-serve" and "binary_tensor_data" in meta["extensions"]
    boston = client.get("/v2/models/boston").json()
    assert boston == {
        "name": "boston",
        "versions": ["0.0.1-test"],
        "platform": "paddle",
        "inputs": [{"name": "features", "datatype": "FP64", "shape": [-1, 13]}],
        "outputs": [{"name": "price", "datatype": "FP64", "shape": [-1, 1]}],
    }
    mnist = client.get("/v2/models/mnist/versions/0.0.1-test").json()
    assert [t["name"] for t in mnist["inputs"]] == ["image", "pixels"]
    assert mnist["outputs"][0] == {"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]}
    assert client.get("/v2/models/mnist/ready").json() == {"name": "mnist", "ready": True}


def test_unknown_models_versions_and_routes_are_404_in_the_protocols_shape(client: TestClient) -> None:
    error(client.get("/v2/models/resnet"), 404, "resnet", "boston")
    error(client.get("/v2/models/mnist/versions/7"), 404, "no version '7'", "0.0.1-test")
    error(client.get("/v2/models/mnist/versions/7/ready"), 404)
    error(client.post("/v2/models/resnet/infer", json={"inputs": []}), 404, "resnet")
    error(client.get("/v2/nowhere"), 404)


def test_boston_answers_equal_predict_price_batched_and_single(client: TestClient) -> None:
    singles = [client.post("/predict/price", json=r).json()["price"] for r in ROWS]
    r = client.post(BOSTON, json={"id": "req-7", "inputs": [features(ROWS)]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == "req-7" and body["model_name"] == "boston" and body["model_version"] == "0.0.1-test"
    assert body["outputs"] == [{"name": "price", "datatype": "FP64", "shape": [3, 1], "data": singles}]
    named = {"model_name": "boston", "model_version": "0.0.1-test", "inputs": [features(ROWS[1:2])]}
    one = client.post("/v2/models/boston/versions/0.0.1-test/infer", json=named)
    assert one.json()["outputs"][0]["data"] == singles[1:2]


def test_boston_binary_and_fp32_inputs(client: TestClient) -> None:
    x = np.array([[r[n] for n in BOSTON_FEATURES] for r in ROWS], np.float32)
    spec = {"name": "features", "shape": [3, 13], "datatype": "FP32"}
    body, headers = binary_request(
        [(spec, x.astype("<f4").tobytes())], parameters={"binary_data_output": True}
    )
    r = client.post(BOSTON, content=body, headers=headers)
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    rows = [dict(zip(BOSTON_FEATURES, map(float, row), strict=True)) for row in x]
    singles = [client.post("/predict/price", json=row).json()["price"] for row in rows]
    np.testing.assert_array_equal(binary_outputs(r)["price"][:, 0], singles)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"CRIM": -1.0}, ["features[1].CRIM", "greater than or equal to 0"]),
        ({"CHAS": 0.5}, ["features[1].CHAS", "multiple of 1"]),
        ({"CRIM": 1e308}, ["features[1].CRIM", "too large"]),
    ],
)
def test_boston_domain_errors_name_the_row_and_feature(
    client: TestClient, change: dict[str, float], words: list[str]
) -> None:
    error(client.post(BOSTON, json={"inputs": [features([ROW, {**ROW, **change}])]}), 400, *words)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_binary_features_are_400(client: TestClient, value: float) -> None:
    x = np.array([[ROW[n] for n in BOSTON_FEATURES]] * 2, "<f8")
    x[1, 4] = value
    body, headers = binary_request(
        [({"name": "features", "shape": [2, 13], "datatype": "FP64"}, x.tobytes())]
    )
    error(client.post(BOSTON, content=body, headers=headers), 400, "features[1].NOX", "finite")


@pytest.mark.parametrize(
    ("request_body", "words"),
    [
        ({"inputs": [{**features([ROW]), "shape": [1, 12]}]}, ["features", "shape [1, 12]", "[-1, 13]"]),
        ({"inputs": [{**features([ROW]), "shape": [2, 13]}]}, ["features", "13 values", "[2, 13]"]),
        ({"inputs": [{**features([ROW]), "shape": [13, 1]}]}, ["features", "shape [13, 1]", "[-1, 13]"]),
        ({"inputs": [{**features([ROW]), "datatype": "INT64"}]}, ["features", "INT64", "FP64 or FP32"]),
        ({"inputs": [{**features([ROW]), "name": "x"}]}, ["unknown input 'x'", "features"]),
        ({"inputs": [features([ROW]), features([ROW])]}, ["exactly one input"]),
        ({"inputs": [features([ROW])], "outputs": [{"name": "cost"}]}, ["unknown output 'cost'", "price"]),
        ({"inputs": [{**features([ROW]), "data": None}]}, ["features", "no data"]),
        ({"inputs": [{**features([ROW]), "datatype": "FP65"}]}, ["datatype"]),
        ({"inputs": [{**features([ROW]), "data": ["a"] * 13}]}, ["features", "element 0"]),
        ({"inputs": []}, ["inputs"]),
        ({"model_name": "mnist", "inputs": [features([ROW])]}, ["model_name", "'mnist'", "'boston'"]),
        ({"inputs": [features([ROW])], "extra": 1}, ["extra"]),
        ({"input": []}, ["inputs"]),
        ({"inputs": [features([ROW] * 1001)]}, ["1001 rows", "limit"]),
    ],
)
def test_bad_requests_are_400_naming_the_problem(
    client: TestClient, request_body: dict[str, Any], words: list[str]
) -> None:
    error(client.post(BOSTON, json=request_body), 400, *words)


@pytest.mark.parametrize(
    ("body", "header"),
    [
        (b"{", None),
        (b"", None),
        (b'{"inputs": []}', "99"),
        (b'{"inputs": []}', "x"),
        (b"[1, 2]", None),
    ],
)
def test_unreadable_bodies_are_400(client: TestClient, body: bytes, header: str | None) -> None:
    headers = {"Inference-Header-Content-Length": header} if header is not None else {}
    error(client.post(BOSTON, content=body, headers=headers), 400)


def test_binary_sizes_that_do_not_add_up_are_400(client: TestClient) -> None:
    spec = {"name": "features", "shape": [1, 13], "datatype": "FP64"}
    raw = np.zeros(13, "<f8").tobytes()
    body, headers = binary_request([(spec, raw[:-8])])
    error(client.post(BOSTON, content=body, headers=headers), 400, "96 bytes", "104")
    body, headers = binary_request([(spec, raw)])
    error(client.post(BOSTON, content=body + b"xx", headers=headers), 400, "2 bytes", "after")


def digit_answers(client: TestClient, files: list[bytes]) -> list[dict[str, Any]]:
    parts = [("files", (f"{i}.png", f, "image/png")) for i, f in enumerate(files)]
    r = client.post("/predict/digit/batch?debug=true", files=parts)
    assert r.status_code == 200, r.text
    return list(r.json()["predictions"])


def uploads() -> list[bytes]:
    return [drawn_digit_png(size=s, offset=(s // 8, s // 10)) for s in (120, 160, 200)]


def test_mnist_image_bytes_equal_predict_digit(client: TestClient) -> None:
    files = uploads()
    expected = digit_answers(client, files)
    spec = {"name": "image", "shape": [3], "datatype": "BYTES"}
    body, headers = binary_request([(spec, bytes_tensor(files))], parameters={"binary_data_output": True})
    r = client.post(MNIST, content=body, headers=headers)
    assert r.status_code == 200, r.text
    out = binary_outputs(r)
    want = np.array([a["probabilities"] for a in expected], np.float32)
    np.testing.assert_array_equal(out["probabilities"], want)
    assert out["digit"].tolist() == [a["digit"] for a in expected]


def test_mnist_pixels_in_mnist_form_equal_the_image_the_network_saw(client: TestClient) -> None:
    expected = digit_answers(client, uploads())
    seen = [np.asarray(Image.open(io.BytesIO(base64.b64decode(a["input_image"])))) for a in expected]
    pixels = {"name": "pixels", "shape": [3, 28, 28], "datatype": "UINT8", "data": np.stack(seen).tolist()}
    outputs = [{"name": "digit"}, {"name": "probabilities", "parameters": {"binary_data": False}}]
    r = client.post(MNIST, json={"inputs": [pixels], "outputs": outputs})
    assert r.status_code == 200, r.text
    digit, probs = r.json()["outputs"]
    assert digit == {
        "name": "digit",
        "datatype": "INT64",
        "shape": [3],
        "data": [a["digit"] for a in expected],
    }
    want = np.array([a["probabilities"] for a in expected], np.float32)
    np.testing.assert_array_equal(np.array(probs["data"], np.float32).reshape(3, 10), want)


def test_mnist_batched_equals_single(client: TestClient) -> None:
    files = uploads()
    spec = {"name": "image", "shape": [3], "datatype": "BYTES"}
    body, headers = binary_request([(spec, bytes_tensor(files))], parameters={"binary_data_output": True})
    batched = binary_outputs(client.post(MNIST, content=body, headers=headers))
    for i, data in enumerate(files):
        body, headers = binary_request(
            [({**spec, "shape": [1]}, bytes_tensor([data]))], parameters={"binary_data_output": True}
        )
        single = binary_outputs(client.post(MNIST, content=body, headers=headers))
        np.testing.assert_array_equal(single["probabilities"][0], batched["probabilities"][i])


def test_an_image_over_the_pixel_limit_is_413(tmp_path: Path) -> None:
    with make_client(write_models(tmp_path), prepare_processes=0, max_image_pixels=10_000) as small:
        spec = {"name": "image", "shape": [1], "datatype": "BYTES"}
        body, headers = binary_request([(spec, bytes_tensor([drawn_digit_png(size=200)]))])
        error(small.post(MNIST, content=body, headers=headers), 413, "image")


def test_requested_binary_output_only(client: TestClient) -> None:
    spec = {"name": "pixels", "shape": [1, 28, 28], "datatype": "UINT8"}
    body, headers = binary_request(
        [(spec, bytes(784))], outputs=[{"name": "digit", "parameters": {"binary_data": True}}]
    )
    out = binary_outputs(client.post(MNIST, content=body, headers=headers))
    assert list(out) == ["digit"] and out["digit"].shape == (1,)


def test_mnist_bad_images_are_400_naming_the_element(client: TestClient) -> None:
    files = [uploads()[0], b"not an image"]
    spec = {"name": "image", "shape": [2], "datatype": "BYTES"}
    body, headers = binary_request([(spec, bytes_tensor(files))])
    error(client.post(MNIST, content=body, headers=headers), 400, "image[1]")
    body, headers = binary_request([(spec, bytes_tensor(files)[:-3])])
    error(client.post(MNIST, content=body, headers=headers), 400, "image", "cut short")
    wrong = {"name": "pixels", "shape": [1, 28, 28], "datatype": "UINT8", "data": [300] + [0] * 783}
    error(client.post(MNIST, json={"inputs": [wrong]}), 400, "pixels", "UINT8")


def test_body_limits_hold_in_the_protocols_shape(tmp_path: Path) -> None:
    with make_client(write_models(tmp_path), prepare_processes=0, max_json_bytes=500) as small:
        error(small.post(BOSTON, json={"inputs": [features(ROWS * 4)]}), 413, "limit")
        assert small.post(BOSTON, json={"inputs": [features(ROWS[:1])]}).status_code == 200


def test_a_model_that_is_not_loaded_is_503(tmp_path: Path) -> None:
    folder = write_models(tmp_path)
    (folder / "mnist" / "card.json").unlink()
    with make_client(folder, prepare_processes=0) as c:
        assert c.get("/v2/health/ready").status_code == 503
        assert c.get("/v2/health/ready").json() == {"ready": False}
        assert c.get("/v2/models/mnist/ready").status_code == 503
        error(c.post(MNIST, json={"inputs": []}), 503, "mnist")
        assert c.get("/v2/models/boston/ready").json() == {"name": "boston", "ready": True}
