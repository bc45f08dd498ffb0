"""Fixtures: model folders with known weights, and an app + httpx client over them."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from app.main import create_app
from app.settings import Settings
from tests.app.model_fixtures import write_models

os.environ.setdefault("GLOG_minloglevel", "2")


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_models(tmp_path_factory.mktemp("app-models"))


def make_client(models_dir: Path, **overrides: object) -> TestClient:
    settings = Settings(models_dir=models_dir, **overrides)  # type: ignore[arg-type]
    return TestClient(create_app(settings))


@pytest.fixture(scope="session")
def client(models_dir: Path) -> Iterator[TestClient]:
    with make_client(models_dir) as c:
        yield c


def drawn_digit_png(size: int = 200, offset: tuple[int, int] = (20, 30), fmt: str = "PNG") -> bytes:
    """A dark '7'-like stroke on white paper, off centre."""
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    x, y = offset
    draw.line([(x, y), (x + 60, y), (x + 25, y + 90)], fill="black", width=9)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()
