"""POST /predict/digit and /predict/digit/batch against a small DigitNet with seeded weights."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pillow_heif import register_heif_opener

from app.predictors.preprocess import decode_image, to_mnist
from models import second_look
from models.features import scale_pixels
from tests.app.conftest import drawn_digit_png, make_client
from tests.app.test_price_api import assert_error

register_heif_opener()  # to write HEIC test files (the service registers its own on the first one)


def post_file(client: TestClient, data: bytes, name: str = "d.png", mime: str = "image/png", **kw):
    return client.post("/predict/digit", files={"file": (name, data, mime)}, **kw)


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height with one row of data (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" + b"\xff" * min(width, 1000))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def fixture_probabilities(models_dir: Path, forms: np.ndarray) -> np.ndarray:
    """The fixture network in dygraph on (N, 28, 28) forms: softmax(logits / T)."""
    import paddle

    from models.artifacts import load_model

    loaded = load_model(models_dir / "mnist")
    logits = loaded.network(paddle.to_tensor(scale_pixels(forms))).numpy().astype(np.float64)
    z = np.exp(logits / loaded.card["calibration"]["temperature"])
    return z / z.sum(axis=1, keepdims=True)


def expected_probabilities(models_dir: Path, data: bytes) -> np.ndarray:
    """The fixture network on the same preprocessing, softmax(logits / T); when its top
    probability is below second_look.UNSURE, the mean with the form's turned views."""
    form = to_mnist(decode_image(data, 10**8))
    first = fixture_probabilities(models_dir, form[None])[0]
    if first.max() >= second_look.UNSURE:
        return first
    turned = np.stack([second_look.turned(form, angle) for angle in second_look.ANGLES])
    return (first + fixture_probabilities(models_dir, turned).sum(axis=0)) / (1 + len(second_look.ANGLES))


def test_an_unsure_digit_is_read_again_and_counted(models_dir: Path) -> None:
    data = drawn_digit_png()
    first = fixture_probabilities(models_dir, to_mnist(decode_image(data, 10**8))[None])[0]
    assert first.max() < second_look.UNSURE  # the random-weight fixture is unsure of everything
    with make_client(models_dir) as client:
        body = post_file(client, data).json()
        metrics = client.get("/metrics").text
    assert 'digit_second_looks_total{outcome="read"} 1.0' in metrics
    assert 'digit_second_looks_total{outcome="skipped"}' not in metrics
    assert not np.allclose(body["probabilities"], first, atol=1e-6)  # the views changed the answer


def test_answer_shape_and_calibrated_probabilities(client: TestClient, models_dir: Path) -> None:
    data = drawn_digit_png()
    body = post_file(client, data).json()
    probs = np.array(body["probabilities"])
    assert probs.shape == (10,) and probs.sum() == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(probs, expected_probabilities(models_dir, data), atol=1e-5)
    assert body["digit"] == int(np.argmax(probs)) and body["confidence"] == probs.max()
    top = body["top"]
    assert [t["digit"] for t in top] == list(np.argsort(-probs)[:3])
    assert [t["probability"] for t in top] == sorted((t["probability"] for t in top), reverse=True)
    assert body["model"] == {"name": "mnist", "version": "0.0.1-test"} and body["input_image"] is None


def test_debug_returns_the_28x28_the_network_saw(client: TestClient) -> None:
    data = drawn_digit_png()
    body = post_file(client, data, params={"debug": "true"}).json()
    image = Image.open(io.BytesIO(base64.b64decode(body["input_image"])))
    assert image.format == "PNG" and image.size == (28, 28) and image.mode == "L"
    np.testing.assert_array_equal(np.asarray(image), to_mnist(decode_image(data, 10**8)))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF", "AVIF", "HEIF"])
def test_every_supported_format_is_read(client: TestClient, fmt: str) -> None:
    data = drawn_digit_png(fmt=fmt)
    response = post_file(client, data, name=f"d.{fmt.lower()}", mime="application/octet-stream")
    assert response.status_code == 200, response.text
    png = post_file(client, drawn_digit_png()).json()
    if fmt != "JPEG":  # lossless for a black-on-white drawing, or (AVIF, HEIC) close enough
        assert response.json()["digit"] == png["digit"]


def test_batch_is_in_order_and_equals_single_answers(client: TestClient) -> None:
    files = [drawn_digit_png(offset=(10 * i, 5 * i)) for i in range(5)]
    response = client.post(
        "/predict/digit/batch", files=[("files", (f"{i}.png", f)) for i, f in enumerate(files)]
    )
    batch = response.json()["predictions"]
    assert len(batch) == 5
    for data, answer in zip(files, batch, strict=True):
        single = post_file(client, data).json()
        assert answer["digit"] == single["digit"]
        np.testing.assert_allclose(answer["probabilities"], single["probabilities"], atol=1e-6)


MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"  # a video's first box


def ico_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "white").save(buffer, format="ICO")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "status", "code", "word"),
    [
        (b"", 422, "corrupt_image", "empty"),
        (b"hello, this is text and not a picture", 415, "unsupported_media_type", "supported format"),
        (ico_bytes(), 415, "unsupported_media_type", "supported format"),
        (drawn_digit_png()[:300], 422, "corrupt_image", "truncated"),
        (drawn_digit_png(fmt="JPEG")[:600], 422, "corrupt_image", "truncated"),
        (drawn_digit_png(fmt="HEIF")[:300], 422, "corrupt_image", "truncated"),
        (drawn_digit_png(fmt="AVIF")[:40], 422, "corrupt_image", "truncated"),
        (MP4_HEAD, 415, "unsupported_media_type", "supported format"),  # an ISO media file, not HEIF
        (png_claiming(100_000, 100_000), 413, "payload_too_large", "pixels"),
        (png_claiming(7000, 7000), 413, "payload_too_large", "pixels"),
    ],
)
def test_bad_uploads(client: TestClient, data: bytes, status: int, code: str, word: str) -> None:
    assert assert_error(post_file(client, data), status, word)["code"] == code


def test_no_ink_is_422_saying_so(client: TestClient) -> None:
    for colour in ("white", "black", (120, 140, 200)):
        buffer = io.BytesIO()
        Image.new("RGB", (100, 80), colour).save(buffer, format="PNG")
        error = assert_error(post_file(client, buffer.getvalue()), 422, "no ink")
        assert error["code"] == "no_ink"


def test_an_upload_over_the_limit_is_413_before_it_is_read(models_dir: Path) -> None:
    with make_client(models_dir, max_upload_bytes=20_000) as small:
        assert post_file(small, drawn_digit_png()).status_code == 200
        assert_error(post_file(small, drawn_digit_png() + b"\0" * 30_000), 413, "limit")

        def chunks():  # chunked, no Content-Length: counted as it streams
            body = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
            yield body
            for _ in range(100):
                yield b"\0" * 1000

        headers = {"content-type": "multipart/form-data; boundary=b"}
        assert_error(small.post("/predict/digit", content=chunks(), headers=headers), 413, "limit")


def test_the_pixel_limit_is_configurable(models_dir: Path) -> None:
    with make_client(models_dir, max_image_pixels=100 * 100) as small:
        assert_error(post_file(small, drawn_digit_png(size=120)), 413, "120x120", "limit of 10000")
        assert_error(post_file(small, drawn_digit_png(size=200)), 413, "limit of 10000")
        assert post_file(small, drawn_digit_png(size=100, offset=(5, 5))).status_code == 200


def test_multipart_mistakes_are_422(client: TestClient) -> None:
    png = drawn_digit_png()
    assert_error(client.post("/predict/digit", files={"note": (None, "hi")}), 422, "note")
    assert_error(client.post("/predict/digit", files={"image": ("a.png", png)}), 422, "'image'")
    two = [("file", ("a.png", png)), ("file", ("b.png", png))]
    assert_error(client.post("/predict/digit", files=two), 422, "2 files")
    assert_error(client.post("/predict/digit", data={"file": "not a file"}, files={"x": ("", b"")}), 422)
    assert_error(client.post("/predict/digit", json={"file": "x"}), 415, "multipart/form-data")
    assert_error(client.post("/predict/digit", content=b"x", headers={"content-type": "image/png"}), 415)


def test_batch_limits_and_a_bad_file_named_by_index(models_dir: Path) -> None:
    png = drawn_digit_png()
    with make_client(models_dir, max_digit_batch=3) as small:
        files = [("files", (f"{i}.png", png)) for i in range(4)]
        assert_error(small.post("/predict/digit/batch", files=files), 422, "4 files", "limit of 3")
        files = [("files", ("0.png", png)), ("files", ("1.png", b"junk"))]
        assert_error(small.post("/predict/digit/batch", files=files), 415, "files[1]")
        assert_error(small.post("/predict/digit/batch", files={"file": ("a.png", png)}), 422, "'files'")
