"""KServe's own REST client (`kserve` from PyPI, protocol v2), unmodified, against the live service.

The client runs in KServe's own virtual environment (tests/kserve_venv.py): tests/v2/kserve_client.py.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from models.features import BOSTON_FEATURES
from scripts.live_server import LiveServer
from tests.app.conftest import drawn_digit_png
from tests.kserve_venv import KSERVE, kserve_python

ROWS = [
    [0.00632, 18.0, 2.31, 0.0, 0.538, 6.575, 65.2, 4.09, 1.0, 296.0, 15.3, 396.9, 4.98],
    [0.02731, 0.0, 7.07, 0.0, 0.469, 6.421, 78.9, 4.9671, 2.0, 242.0, 17.8, 396.9, 9.14],
]


def test_kserve_rest_client_reads_both_models(tmp_path: Path) -> None:
    try:
        python = kserve_python()
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.fail(f"could not install {KSERVE}: {exc}")
    png = drawn_digit_png(size=160)
    (tmp_path / "digit.png").write_bytes(png)
    with LiveServer() as server:
        files = {"file": ("d.png", png, "image/png")}
        digit = httpx.post(f"{server.url}/predict/digit?debug=true", files=files).json()
        seen = np.asarray(Image.open(io.BytesIO(base64.b64decode(digit["input_image"])))).tolist()
        prices = [
            httpx.post(f"{server.url}/predict/price", json=dict(zip(BOSTON_FEATURES, r, strict=True))).json()
            for r in ROWS
        ]
        args = [str(python), str(Path(__file__).with_name("kserve_client.py")), server.url]
        args += [json.dumps(ROWS), str(tmp_path / "digit.png"), json.dumps([seen])]
        run = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-4000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert (got["live"], got["ready"], got["boston_ready"], got["mnist_ready"]) == (True,) * 4
    assert got["price"] == [p["price"] for p in prices] and got["id"] == "k-1"
    want = np.array([digit["probabilities"]], np.float32)
    for form in ("image", "pixels"):
        assert got[form]["digit"] == [digit["digit"]]
        np.testing.assert_array_equal(np.array(got[form]["probabilities"], np.float32), want)
