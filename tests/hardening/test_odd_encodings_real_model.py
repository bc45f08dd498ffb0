"""The odd-but-valid uploads of the hostile list, read by the committed MNIST model: the same drawn
'7' in every encoding is a 7, and a 1 x 5,000 vertical stroke is a 1."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from tests.hardening import hostile_payloads as hp

ENCODINGS: dict[str, Callable[[], bytes]] = {
    "png_rgb": lambda: hp.encode(hp.digit_image(), "PNG"),
    "png_16_bit": hp.sixteen_bit_png,
    "jpeg_cmyk": lambda: hp.encode(hp.digit_image().convert("CMYK"), "JPEG"),
    "png_palette": lambda: hp.encode(hp.digit_image().convert("P"), "PNG"),
    "png_two_colour": lambda: hp.encode(hp.digit_image().convert("1"), "PNG"),
    "gif_1000_frames_first_is_the_digit": hp.animated_gif,
}


@pytest.fixture(scope="module")
def real_client() -> Iterator[TestClient]:
    """The app on the committed models/ folders (the defaults), lifespan running."""
    from app.main import create_app

    with TestClient(create_app()) as client:
        assert client.get("/readyz").status_code == 200
        yield client


@pytest.mark.parametrize("name", list(ENCODINGS))
def test_the_drawn_seven_is_a_seven_in_every_encoding(name: str, real_client: TestClient) -> None:
    response = real_client.post("/predict/digit", files={"file": ("upload", ENCODINGS[name]())})
    assert response.status_code == 200, response.text
    assert response.json()["digit"] == 7
    assert response.json()["confidence"] > 0.9


def test_a_one_by_5000_vertical_stroke_is_a_one(real_client: TestClient) -> None:
    response = real_client.post("/predict/digit", files={"file": ("s.png", hp.thin_strip(1, 5000))})
    assert response.status_code == 200, response.text
    assert response.json()["digit"] == 1
