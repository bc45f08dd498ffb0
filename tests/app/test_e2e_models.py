"""End to end on the committed model folders in models/: the service's default configuration."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from models import MODELS_DIR
from models.features import BOSTON_FEATURES


@pytest.fixture(scope="module")
def served() -> Iterator[TestClient]:
    """The app exactly as `uvicorn app.main:app` builds it (default settings: the repository's models/)."""
    assert Settings().models_dir == MODELS_DIR
    with TestClient(create_app()) as client:
        yield client


def test_both_committed_models_load_and_the_service_is_ready(served: TestClient) -> None:
    health = served.get("/health").json()
    statuses = {name: m["status"] for name, m in health["models"].items()}
    assert statuses == {"boston": "ready", "mnist": "ready"}
    assert served.get("/readyz").status_code == 200


def test_boston_agrees_with_the_tutorial_arithmetic_on_test_row_minus_10(served: TestClient) -> None:
    """model(x_normalized) * (max - min) + min by hand, with the card's own parameters, to 1e-4."""
    import paddle

    from models.artifacts import load_model

    loaded = load_model(MODELS_DIR / "boston")
    example = next(e for e in loaded.card["examples"] if e["row"] == -10)
    norm = loaded.card["normalization"]
    lo, hi = np.array(norm["min"], np.float32), np.array(norm["max"], np.float32)
    x = np.array([[example["features"][n] for n in BOSTON_FEATURES]], np.float32)
    with paddle.no_grad():
        y = float(loaded.network(paddle.to_tensor((x - lo[:13]) / (hi[:13] - lo[:13]))).numpy()[0, 0])
    by_hand = y * float(hi[13] - lo[13]) + float(lo[13])
    answer = served.post("/predict/price?explain=true", json=example["features"]).json()
    assert answer["price"] == pytest.approx(by_hand, abs=1e-4)
    assert answer["model"]["version"] == loaded.card["version"]
    explanation = answer["explanation"]
    total = explanation["baseline"] + sum(explanation["contributions"].values())
    assert total == pytest.approx(answer["price"])
    assert 0 < answer["price"] < 60  # a plausible median value in $1000s


def test_boston_card_view_carries_the_training_range(served: TestClient) -> None:
    card = served.get("/models/boston").json()
    norm = card["normalization"]
    assert card["features"]["RM"]["training_min"] == norm["min"][5]
    assert card["command"].startswith("python -m training.boston")


@pytest.fixture(scope="module")
def mnist_test() -> tuple[np.ndarray, np.ndarray]:
    """The MNIST test split (fetched and cached by training.datasets on first use)."""
    from training.datasets import load_mnist

    data = load_mnist()
    return data.x_test, data.y_test


def read_digits(served: TestClient, uploads: list[bytes], chunk: int = 32) -> list[int]:
    digits: list[int] = []
    for start in range(0, len(uploads), chunk):
        files = [("files", (f"{i}.png", u)) for i, u in enumerate(uploads[start : start + chunk])]
        response = served.post("/predict/digit/batch", files=files)
        assert response.status_code == 200, response.text
        digits += [p["digit"] for p in response.json()["predictions"]]
    return digits


def test_mnist_test_images_as_png_come_back_right(served: TestClient, mnist_test: tuple) -> None:
    from scripts.eval_digit_http import png

    images, labels = mnist_test
    n = 320
    digits = read_digits(served, [png(images[i]) for i in range(n)])
    assert np.mean(np.array(digits) == labels[:n]) >= 0.98
    for i in range(8):  # the single route agrees
        single = served.post("/predict/digit", files={"file": ("d.png", png(images[i]))}).json()
        assert single["digit"] == digits[i]


@pytest.mark.parametrize("style", ["rgb_png", "rgba_png", "jpeg"])
def test_large_off_centre_dark_on_white_digits_come_back_right(
    served: TestClient, mnist_test: tuple, style: str
) -> None:
    """MNIST digits scaled up 8-14x, inverted, pasted near a corner of a 0.5-1 megapixel canvas."""
    from scripts.eval_digit_http import styled

    images, labels = mnist_test
    n = 64
    digits = read_digits(served, [styled(images[i], i, style) for i in range(n)])
    assert np.mean(np.array(digits) == labels[:n]) >= 0.95
