"""POST /predict/price and /predict/price/batch against a Regressor with known weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from models.features import BOSTON_FEATURES
from tests.app.conftest import make_client
from tests.app.model_fixtures import BOSTON_MAX, BOSTON_MIN, ROW, expected_price

JSON = {"content-type": "application/json"}


def raw(client: TestClient, text: str | bytes, path: str = "/predict/price", headers: dict | None = None):
    return client.post(path, content=text, headers=headers or JSON)


def assert_error(response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "request_id"}
    assert body["error"]["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    for word in words:
        assert word in body["error"]["message"], body["error"]["message"]
    return body["error"]


def test_price_is_the_tutorial_arithmetic(client: TestClient) -> None:
    body = client.post("/predict/price", json=ROW).json()
    assert body["price"] == pytest.approx(expected_price(ROW), abs=1e-9)
    assert body["price_usd"] == pytest.approx(round(expected_price(ROW) * 1000, 2), abs=0.01)
    assert body["model"] == {"name": "boston", "version": "0.0.1-test"}
    assert body["warnings"] == [] and body["explanation"] is None


def test_price_matches_dygraph_on_the_cards_example_row(client: TestClient, models_dir: Path) -> None:
    """The card's test row -10 through the loaded network, by hand: model(x_norm) * (max - min) + min."""
    import paddle

    from models.artifacts import load_model

    loaded = load_model(models_dir / "boston")
    example = loaded.card["examples"][0]
    lo, hi = np.array(BOSTON_MIN, np.float32), np.array(BOSTON_MAX, np.float32)
    x = np.array([[example["features"][n] for n in BOSTON_FEATURES]], np.float32)
    y = loaded.network(paddle.to_tensor((x - lo[:13]) / (hi[:13] - lo[:13]))).numpy()[0, 0]
    by_hand = float(y) * float(hi[13] - lo[13]) + float(lo[13])
    answer = client.post("/predict/price", json=example["features"]).json()
    assert example["row"] == -10
    assert answer["price"] == pytest.approx(by_hand, abs=1e-4)


def test_explanation_adds_up_to_the_price(client: TestClient) -> None:
    body = client.post("/predict/price?explain=true", json=ROW).json()
    explanation = body["explanation"]
    assert set(explanation["contributions"]) == set(BOSTON_FEATURES)
    total = explanation["baseline"] + sum(explanation["contributions"].values())
    assert total == pytest.approx(body["price"], abs=1e-9)
    # baseline = bias * range + min = 0.25 * 45 + 5
    assert explanation["baseline"] == pytest.approx(0.25 * 45 + 5, abs=1e-6)
    # RM sits at its training minimum: normalized 0, contribution 0
    row = {**ROW, "RM": BOSTON_MIN[5]}
    assert (
        client.post("/predict/price?explain=true", json=row).json()["explanation"]["contributions"]["RM"] == 0
    )


def test_lower_case_names_and_the_list_form_give_the_same_price(client: TestClient) -> None:
    upper = client.post("/predict/price", json=ROW).json()["price"]
    lower = client.post("/predict/price", json={k.lower(): v for k, v in ROW.items()}).json()["price"]
    listed = client.post("/predict/price", json={"features": [ROW[n] for n in BOSTON_FEATURES]}).json()
    assert upper == lower == listed["price"]


def test_integers_and_minus_zero_are_numbers(client: TestClient) -> None:
    ints = {k: int(v) if float(v).is_integer() else v for k, v in ROW.items()}
    assert client.post("/predict/price", json=ints).json()["price"] == pytest.approx(expected_price(ROW))
    text = json.dumps({**ROW, "ZN": 0.0}).replace('"ZN": 0.0', '"ZN": -0.0')
    assert raw(client, text).status_code == 200


def test_warnings_name_each_feature_outside_the_training_range(client: TestClient) -> None:
    body = client.post("/predict/price", json={**ROW, "CRIM": 95.0, "LSTAT": 1.0}).json()
    assert len(body["warnings"]) == 2
    assert body["warnings"][0].startswith("CRIM=95 ") and "extrapolation" in body["warnings"][0]
    assert body["warnings"][1].startswith("LSTAT=1 ")
    assert body["price"] == pytest.approx(expected_price({**ROW, "CRIM": 95.0, "LSTAT": 1.0}))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"CRIM": None}, ["CRIM"]),
        ({"CRIM": "0.5"}, ["CRIM", "number"]),
        ({"CHAS": True}, ["CHAS", "number"]),
        ({"CRIM": [1]}, ["CRIM"]),
        ({"CRIM": -0.1}, ["CRIM", "greater than or equal to 0"]),
        ({"CHAS": 0.5}, ["CHAS", "multiple of 1"]),
        ({"CHAS": 2}, ["CHAS"]),
        ({"AGE": 100.5}, ["AGE", "less than or equal to 100"]),
        ({"ZN": -1}, ["ZN"]),
        ({"B": 400}, ["B"]),
        ({"EXTRA": 1}, ["EXTRA", "unknown field"]),
    ],
)
def test_invalid_values_are_422_naming_the_field(client: TestClient, change: dict, words: list[str]) -> None:
    error = assert_error(client.post("/predict/price", json={**ROW, **change}), 422, *words)
    assert error["code"] == "invalid_input" and error["details"]


def test_a_missing_field_is_named(client: TestClient) -> None:
    row = {k: v for k, v in ROW.items() if k != "TAX"}
    assert_error(client.post("/predict/price", json=row), 422, "TAX", "missing")


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e309"])
def test_nan_and_infinity_are_rejected(client: TestClient, token: str) -> None:
    text = json.dumps({**ROW, "CRIM": "@"}).replace('"@"', token)
    assert_error(raw(client, text), 422, "CRIM", "finite")
    listed = json.dumps({"instances": [ROW, {"features": [*(ROW[n] for n in BOSTON_FEATURES[:12]), "@"]}]})
    assert_error(
        raw(client, listed.replace('"@"', token), "/predict/price/batch"), 422, "instances[1]", "LSTAT"
    )


def test_a_value_too_large_for_float32_is_rejected(client: TestClient) -> None:
    assert_error(client.post("/predict/price", json={**ROW, "CRIM": 1e308}), 422, "CRIM", "too large")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"features": [1.0] * 12}, ["features", "13"]),
        ({"features": [*(ROW[n] for n in BOSTON_FEATURES[:12]), "x"]}, ["features[12] (LSTAT)"]),
        ({"features": [0.5, 0, 1, 0, 0.5, 6, 50, 4, 5, 300, 18, 390, -1]}, ["LSTAT"]),
        ([1, 2, 3], ["body"]),
        ({**ROW, "crim": 1.0}, ["twice"]),
    ],
)
def test_malformed_bodies_are_422(client: TestClient, body: object, words: list[str]) -> None:
    assert_error(client.post("/predict/price", json=body), 422, *words)


@pytest.mark.parametrize("text", [b"", b"{", b'{"CRIM": "\xff"}', b"[" * 5000 + b"]" * 5000])
def test_unparseable_bodies_are_422(client: TestClient, text: bytes) -> None:
    assert_error(raw(client, text), 422)


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data; boundary=x"])
def test_other_content_types_are_415(client: TestClient, content_type: str) -> None:
    response = raw(client, json.dumps(ROW), headers={"content-type": content_type})
    assert_error(response, 415, "application/json")


def test_a_body_over_the_limit_is_413(models_dir: Path) -> None:
    with make_client(models_dir, max_json_bytes=1000) as small:
        assert small.post("/predict/price", json=ROW).status_code == 200
        assert_error(small.post("/predict/price", json={**ROW, "pad": "x" * 2000}), 413, "limit")

        def chunks():  # no Content-Length: the streamed body is counted and cut off
            yield json.dumps(ROW).encode()
            yield b" " * 4000

        assert_error(small.post("/predict/price", content=chunks(), headers=JSON), 413, "limit")


def test_batch_keeps_order_and_matches_single_answers(client: TestClient) -> None:
    rows = [ROW, {**ROW, "RM": 7.5}, {"features": [ROW[n] for n in BOSTON_FEATURES]}, {**ROW, "CRIM": 95.0}]
    batch = client.post("/predict/price/batch?explain=true", json={"instances": rows}).json()["predictions"]
    singles = [client.post("/predict/price?explain=true", json=r).json() for r in rows]
    assert batch == singles
    assert batch[1]["price"] == pytest.approx(expected_price({**ROW, "RM": 7.5}))


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"instances": [ROW, {**ROW, "NOX": -1}]}, ["instances[1].NOX"]),
        ({"instances": [ROW, ROW, {"features": [1.0]}]}, ["instances[2].features"]),
        ({"instances": [ROW, {**ROW, "CRIM": 1e308}]}, ["instances[1].CRIM"]),
        ({"instances": [ROW, 5]}, ["instances[1]"]),
        ({"instances": 5}, ["instances"]),
        ({"instances": []}, ["instances"]),
        ({"rows": [ROW]}, ["instances"]),
        ({"instances": [ROW] * 1001}, ["1001", "limit of 1000"]),
    ],
)
def test_a_bad_batch_is_422_naming_the_instance(client: TestClient, body: object, words: list[str]) -> None:
    assert_error(client.post("/predict/price/batch", json=body), 422, *words)
