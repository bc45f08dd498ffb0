"""The model repository API: the admin token, load (reload in place), unload, a broken folder.

Two fixture model sets whose answers differ and a broken folder, as scripts/reload_soak.py makes
them; the served folders are symlinks the tests switch between them.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scripts.reload_soak import folders as reload_folders
from scripts.reload_soak import point
from tests.app.conftest import drawn_digit_png, make_client
from tests.app.model_fixtures import ROW

TOKEN = "s3cret-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
ROUTES = ["/v2/repository/index", "/v2/repository/models/boston/load", "/v2/repository/models/mnist/unload"]


@pytest.fixture()
def folders(tmp_path: Path) -> dict[str, Path]:
    return reload_folders(tmp_path)


@pytest.fixture()
def client(folders: dict[str, Path]) -> Iterator[TestClient]:
    with make_client(folders["served"], prepare_processes=0, admin_token=TOKEN) as c:
        yield c


def price(client: TestClient) -> float:
    r = client.post("/predict/price", json=ROW)
    assert r.status_code == 200, r.text
    return float(r.json()["price"])


def test_off_without_a_token(folders: dict[str, Path]) -> None:
    with make_client(folders["served"], prepare_processes=0) as c:
        for route in ROUTES:
            r = c.post(route, headers=ADMIN)
            assert r.status_code == 403 and "PADDLE_SERVE_ADMIN_TOKEN" in r.json()["error"], route


def test_a_missing_token_is_401_a_wrong_one_403_and_the_token_never_shows(client: TestClient) -> None:
    for route in ROUTES:
        missing = client.post(route)
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer", route
        for wrong in ({"Authorization": "Bearer nope"}, {"Authorization": f"Basic {TOKEN}"}):
            r = client.post(route, headers=wrong)
            assert r.status_code in (401, 403) and TOKEN not in r.text, (route, wrong)
        assert client.post(route, headers={"Authorization": "Bearer x" + TOKEN}).status_code == 403
    assert client.post("/v2/repository/index", headers=ADMIN).status_code == 200
    assert TOKEN not in client.get("/metrics").text and TOKEN not in str(client.get("/models").json())


def test_index_lists_the_models_with_their_state(client: TestClient) -> None:
    index = client.post("/v2/repository/index", headers=ADMIN).json()
    assert index == [
        {"name": "boston", "version": "0.0.1-test", "state": "READY", "reason": ""},
        {"name": "mnist", "version": "0.0.1-test", "state": "READY", "reason": ""},
    ]


def test_load_serves_the_new_folder_and_a_broken_one_leaves_the_old(
    client: TestClient, folders: dict[str, Path]
) -> None:
    before = price(client)
    point(folders["served"], "boston", folders["b"] / "boston")
    assert client.post("/v2/repository/models/boston/load", headers=ADMIN).json() == {}
    after = price(client)
    assert after != before and client.get("/models/boston").json()["version"] == "0.0.1-fixture"
    loaded = client.get("/models/boston").json()["loaded"]
    assert loaded["from"] == "$MODELS_DIR/boston" and "model.pdparams" in loaded["files"]
    point(folders["served"], "boston", folders["broken"] / "boston")
    r = client.post("/v2/repository/models/boston/load", headers=ADMIN)
    assert r.status_code == 400 and "sha256" in r.json()["error"] and str(folders["broken"]) not in r.text
    assert price(client) == after and client.get("/readyz").status_code == 200
    metrics = client.get("/metrics").text
    assert 'model_reloads_total{model="boston",outcome="loaded"} 1.0' in metrics
    assert 'model_reloads_total{model="boston",outcome="failed"} 1.0' in metrics


def test_a_digit_reload_swaps_the_network(client: TestClient, folders: dict[str, Path]) -> None:
    files = {"file": ("d.png", drawn_digit_png(), "image/png")}
    before = client.post("/predict/digit", files=files).json()
    point(folders["served"], "mnist", folders["b"] / "mnist")
    assert client.post("/v2/repository/models/mnist/load", headers=ADMIN).status_code == 200
    after = client.post("/predict/digit", files=files).json()
    assert after["model"]["version"] == "0.0.1-fixture" != before["model"]["version"]
    assert after["probabilities"] != before["probabilities"]


def test_a_reload_leaves_no_cycles_holding_networks(client: TestClient, folders: dict[str, Path]) -> None:
    """Full collections all but never run in the service (`app.main.GC_THRESHOLDS`). A reload leaves
    reference cycles that hold a network (the export's Paddle programs, a replaced batcher): the
    service collects them once the replaced pipeline is closed, so memory does not grow per reload."""
    service = client.app.state.service  # type: ignore[attr-defined]
    gc.disable()  # only the service's own collection may free them
    try:
        gc.collect()
        for name in ("boston", "mnist"):
            point(folders["served"], name, folders["b"] / name)
            assert client.post(f"/v2/repository/models/{name}/load", headers=ADMIN).status_code == 200
        digit = client.post("/predict/digit", files={"file": ("d.png", drawn_digit_png(), "image/png")})
        assert digit.status_code == 200
        deadline = time.monotonic() + 10.0
        while service._closing and time.monotonic() < deadline:  # the replaced pipelines close
            time.sleep(0.05)
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        left = {type(o).__qualname__ for o in gc.garbage}
        assert not left & {"Program", "Block", "MicroBatcher", "OnnxRuntimeBackend", "DigitPipeline"}, left
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def test_unload_is_503_until_loaded_again(client: TestClient) -> None:
    assert client.post("/v2/repository/models/mnist/unload", headers=ADMIN).status_code == 200
    r = client.post("/predict/digit", files={"file": ("d.png", drawn_digit_png(), "image/png")})
    assert r.status_code == 503 and "mnist" in r.json()["error"]["message"]
    assert client.get("/readyz").status_code == 503
    assert client.get("/v2/models/mnist/ready").status_code == 503
    index: Any = client.post("/v2/repository/index", headers=ADMIN).json()
    assert index[1]["state"] == "UNAVAILABLE" and "unloaded" in index[1]["reason"]
    assert price(client)  # the other model serves on
    assert client.post("/v2/repository/models/mnist/load", headers=ADMIN).status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.post("/v2/repository/models/resnet/load", headers=ADMIN).status_code == 404


def test_the_token_can_come_from_a_file(folders: dict[str, Path], tmp_path: Path) -> None:
    secret = tmp_path / "admin-token"
    secret.write_text(TOKEN + "\n")
    with make_client(folders["served"], prepare_processes=0, admin_token_file=secret) as c:
        assert c.post("/v2/repository/index", headers=ADMIN).status_code == 200
        assert c.post("/v2/repository/index", headers={"Authorization": "Bearer x"}).status_code == 403


def inference_requests() -> list[tuple[str, dict[str, Any]]]:
    """One valid request to each inference route: every one of them needs a token."""
    png = drawn_digit_png()
    features = {
        "inputs": [{"name": "features", "shape": [1, 13], "datatype": "FP64", "data": list(ROW.values())}]
    }
    pixels = {"inputs": [{"name": "pixels", "shape": [1, 28, 28], "datatype": "UINT8", "data": [7] * 784}]}
    return [
        ("/predict/price", {"json": ROW}),
        ("/predict/price/batch", {"json": {"instances": [ROW]}}),
        ("/predict/digit", {"files": {"file": ("d.png", png, "image/png")}}),
        ("/predict/digit/batch", {"files": [("files", ("d.png", png, "image/png"))]}),
        ("/v2/models/boston/infer", {"json": features}),
        ("/v2/models/mnist/infer", {"json": pixels}),
    ]


def test_api_tokens_guard_inference_and_nothing_else(folders: dict[str, Path]) -> None:
    with make_client(folders["served"], prepare_processes=0, api_tokens="old-token, new-token") as c:
        for path, kwargs in inference_requests():
            missing = c.post(path, **kwargs)
            assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer", path
            wrong = c.post(path, headers={"Authorization": "Bearer other"}, **kwargs)
            assert wrong.status_code == 403 and "other" not in wrong.text, path
            for token in ("old-token", "new-token"):  # both, while one is rotated out
                right = c.post(path, headers={"Authorization": f"Bearer {token}"}, **kwargs)
                assert right.status_code == 200, (path, right.text)
        for path in ("/livez", "/readyz", "/metrics", "/v2/health/ready", "/v2/models/boston", "/"):
            assert c.get(path).status_code == 200, path
        assert "new-token" not in c.get("/metrics").text
        schema = c.get("/openapi.json").json()
        assert schema["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
        assert schema["paths"]["/v2/repository/index"]["post"]["security"] == [{"bearer": []}]


def test_api_tokens_can_come_from_a_file(folders: dict[str, Path], tmp_path: Path) -> None:
    secret = tmp_path / "api-tokens"
    secret.write_text("old-token\nnew-token\n")
    with make_client(folders["served"], prepare_processes=0, api_tokens_file=secret) as c:
        for token, status in (("old-token", 200), ("new-token", 200), ("old-token,new-token", 403)):
            r = c.post("/predict/price", json=ROW, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == status, token
        assert c.post("/predict/price", json=ROW).status_code == 401


def test_a_token_file_that_cannot_be_read_stops_the_start_naming_it(
    folders: dict[str, Path], tmp_path: Path
) -> None:
    for setting in ("admin_token_file", "api_tokens_file"):
        with pytest.raises(ValueError, match=f"PADDLE_SERVE_{setting.upper()}: cannot read .*missing"):
            make_client(folders["served"], prepare_processes=0, **{setting: tmp_path / "missing"})
