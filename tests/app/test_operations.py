"""Health, readiness, model cards, metrics, request ids, CORS, the error shape and the 500 fallback."""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.app.conftest import drawn_digit_png, make_client
from tests.app.model_fixtures import BOSTON_MAX, BOSTON_MIN, ROW
from tests.app.test_price_api import assert_error


def test_livez_readyz_health(client: TestClient) -> None:
    assert client.get("/livez").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    health = client.get("/health").json()
    assert {n: m["status"] for n, m in health["models"].items()} == {"boston": "ready", "mnist": "ready"}
    assert health["models"]["mnist"]["version"] == "0.0.1-test"


def test_model_cards_have_what_a_client_needs_and_no_paths(client: TestClient, models_dir: Path) -> None:
    listing = client.get("/models")
    assert str(models_dir) not in listing.text and "/tmp" not in listing.text
    names = [m["name"] for m in listing.json()["models"]]
    assert names == ["boston", "mnist"]
    boston = client.get("/models/boston").json()
    assert boston["version"] == "0.0.1-test" and len(boston["files"]["model.pdparams"]) == 64
    assert boston["command"] == "tests/app/model_fixtures.py" and boston["metrics"]["test_rmse"] == 5.0
    crim = boston["features"]["CRIM"]
    assert crim["minimum"] == 0.0 and crim["maximum"] is None and crim["unit"]
    assert crim["training_min"] == BOSTON_MIN[0] and crim["training_max"] == BOSTON_MAX[0]
    assert boston["features"]["CHAS"]["integer"] is True
    assert boston["examples"][0]["features"] == ROW
    mnist = client.get("/models/mnist").json()
    assert mnist["calibration"] == {"temperature": 1.5} and mnist["input"]["image_size"] == [28, 28]
    assert "serving" in mnist
    assert_error(client.get("/models/nope"), 404, "nope")


def test_metrics_count_requests_stages_and_models(client: TestClient) -> None:
    client.post("/predict/price", json=ROW)
    client.post("/predict/digit", files={"file": ("a.png", drawn_digit_png())})
    text = client.get("/metrics").text
    assert 'http_requests_total{method="POST",route="/predict/price",status="200"}' in text
    assert 'http_request_duration_seconds_bucket{le="0.005",method="POST",route="/predict/price"' in text
    for stage in ("decode", "preprocess", "inference"):
        assert f'inference_stage_duration_seconds_count{{model="mnist",stage="{stage}"}}' in text
    assert "http_requests_in_flight 1.0" in text  # this very request
    assert 'model_info{name="boston",sha256="' in text and 'version="0.0.1-test"} 1.0' in text


def test_request_ids_are_echoed_or_generated(client: TestClient) -> None:
    assert client.get("/livez", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    generated = client.get("/livez").headers["x-request-id"]
    assert len(generated) == 32
    hostile = client.get("/livez", headers={"X-Request-ID": "a b\x7f" + "x" * 300}).headers["x-request-id"]
    assert hostile != "a b" and len(hostile) == 32
    body = client.post("/predict/price", json={}, headers={"X-Request-ID": "r-42"}).json()
    assert body["request_id"] == "r-42"


def test_request_id_in_log_lines_and_quiet_probes(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("app")
    logger.addHandler(caplog.handler)
    try:
        client.get("/livez", headers={"X-Request-ID": "probe-1"})
        client.get("/metrics")
        client.post("/predict/price", json=ROW, headers={"X-Request-ID": "price-1"})
        client.post("/predict/digit", files={"file": ("secret.png", drawn_digit_png())})
    finally:
        logger.removeHandler(caplog.handler)
    access = [r for r in caplog.records if r.name == "app.access"]
    assert [r.request_id for r in access if "/predict/price" in r.getMessage()] == ["price-1"]  # type: ignore[attr-defined]
    assert not any("/livez" in r.getMessage() or "/metrics" in r.getMessage() for r in access)
    assert "PNG" not in caplog.text and "secret.png" not in caplog.text


def test_log_lines_of_one_loop_turn_are_written_at_its_end_in_order() -> None:
    """The service's handler writes one turn's lines with one write; a thread's line keeps the order."""
    import asyncio
    import io
    import threading

    from app.logging import TurnHandler

    writes: list[str] = []

    class Stream(io.StringIO):
        def write(self, text: str) -> int:
            writes.append(text)
            return len(text)

    handler = TurnHandler()
    handler.setStream(Stream())
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("tests.turn")
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)

    async def run() -> None:
        log.info("a")
        log.info("b")
        assert writes == []  # they wait for the end of this turn
        await asyncio.sleep(0)
        assert writes == ["a\nb\n"]
        log.info("c")
        thread = threading.Thread(target=log.info, args=("d",))
        thread.start()
        thread.join()
        assert writes == ["a\nb\n", "c\nd\n"]  # the thread's line came after the one waiting
        log.info("e")

    try:
        asyncio.run(run())
        assert writes[-1] == "e\n"  # written by the end of the loop's last turn
        log.info("f")  # no loop running: at once
        assert writes[-1] == "f\n"
    finally:
        log.removeHandler(handler)


def test_the_log_time_is_the_standard_formatters() -> None:
    from app.logging import Formatter

    for created in (0.0, 1764780000.0009, 1764780000.9999, 1764780001.5):
        record = logging.LogRecord("x", logging.INFO, __file__, 0, "m", None, None)
        record.created, record.msecs = created, int((created - int(created)) * 1000) + 0.0
        assert Formatter("%(asctime)s").format(record) == logging.Formatter("%(asctime)s").format(record)


def test_cors_lets_any_origin_get_and_post_without_credentials(client: TestClient) -> None:
    pre = client.options(
        "/predict/price",
        headers={
            "Origin": "https://example.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "*"
    assert "POST" in pre.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in pre.headers
    simple = client.post("/predict/price", json=ROW, headers={"Origin": "https://example.org"})
    assert simple.headers["access-control-allow-origin"] == "*"


def test_cors_origins_are_configurable(models_dir: Path) -> None:
    with make_client(models_dir, cors_origins="https://a.example, https://b.example") as c:
        ok = c.get("/livez", headers={"Origin": "https://b.example"})
        assert ok.headers["access-control-allow-origin"] == "https://b.example"
        assert (
            "access-control-allow-origin"
            not in c.get("/livez", headers={"Origin": "https://x.example"}).headers
        )


def test_framework_errors_have_the_error_shape(client: TestClient) -> None:
    assert assert_error(client.get("/nowhere"), 404)["code"] == "not_found"
    assert assert_error(client.get("/predict/price"), 405)["code"] == "method_not_allowed"
    assert assert_error(client.post("/predict/price?explain=maybe", json=ROW), 422, "explain")["details"]


def test_an_unexpected_error_is_a_generic_500_logged_with_traceback(
    client: TestClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    price = client.app.state.service.registry.slots["boston"].pipeline  # type: ignore[attr-defined]

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(price, "predict", broken)
    logger = logging.getLogger("app")
    logger.addHandler(caplog.handler)
    try:
        response = client.post("/predict/price", json=ROW, headers={"X-Request-ID": "boom-1"})
    finally:
        logger.removeHandler(caplog.handler)
    error = assert_error(response, 500)
    assert error["message"] == "internal server error" and "secret" not in response.text
    record = next(r for r in caplog.records if r.levelno == logging.ERROR)
    assert record.request_id == "boom-1" and record.exc_info is not None  # type: ignore[attr-defined]
    assert "secret internals" in caplog.text


def test_openapi_documents_errors_and_examples(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    for path in ("/predict/price", "/predict/price/batch", "/predict/digit", "/predict/digit/batch"):
        post = schema["paths"][path]["post"]
        assert post["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "ErrorResponse"
        )
        assert "requestBody" in post
    components = schema["components"]["schemas"]
    upload = schema["paths"]["/predict/digit"]["post"]["requestBody"]["content"]["multipart/form-data"]
    form = components[upload["schema"]["$ref"].rpartition("/")[2]]
    assert form["properties"]["file"]["format"] == "binary" and form["required"] == ["file"]
    assert components["PriceFeatures"]["examples"] and "PriceInstance" in components
    assert client.get("/docs").status_code == 200


def test_docs_load_their_assets_from_the_service_not_a_cdn(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    for asset in assets:
        assert asset.startswith("/"), f"/docs loads {asset} from elsewhere"
        assert client.get(asset).status_code == 200, asset
    assert client.get("/redoc").status_code == 200


def test_root_serves_the_page(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("broken", ["missing_folder", "hash_mismatch", "missing_card"])
def test_a_broken_model_folder_keeps_readyz_503_and_its_routes_503(
    models_dir: Path, tmp_path: Path, broken: str, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "models"
    shutil.copytree(models_dir, root)
    if broken == "missing_folder":
        shutil.rmtree(root / "mnist")
    elif broken == "hash_mismatch":
        with (root / "mnist" / "model.pdparams").open("ab") as f:
            f.write(b"tampered")
    else:
        (root / "mnist" / "card.json").unlink()
    logger = logging.getLogger("app")
    logger.addHandler(caplog.handler)
    try:
        with make_client(root) as c:
            ready = c.get("/readyz")
            error = assert_error(ready, 503, "mnist")
            assert "boston" not in error["message"] and str(root) not in ready.text
            assert_error(c.post("/predict/digit", files={"file": ("a.png", drawn_digit_png())}), 503, "mnist")
            assert c.post("/predict/price", json=ROW).status_code == 200  # the other model still serves
            assert c.get("/livez").status_code == 200
            assert c.get("/health").json()["models"]["mnist"]["status"] == "failed"
    finally:
        logger.removeHandler(caplog.handler)
    expected = {
        "missing_folder": "does not exist",
        "hash_mismatch": "model.pdparams",
        "missing_card": "card.json",
    }
    assert expected[broken] in caplog.text and str(root / "mnist") in caplog.text


def test_the_access_log_can_be_turned_off(models_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("app")
    logger.addHandler(caplog.handler)
    try:
        with make_client(models_dir, access_log=False) as quiet:
            assert quiet.post("/predict/price", json=ROW).status_code == 200
    finally:
        logger.removeHandler(caplog.handler)
    assert not [r for r in caplog.records if r.name == "app.access"]
