"""Faults in the service's own model folders, against a real uvicorn process.

Documented behaviour (docs/API.md): the process starts, logs which file is wrong and why,
`/readyz` stays 503 naming the model, that model's routes answer 503, the other model serves.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from scripts.live_server import LiveServer
from tests.hardening.hostile_payloads import digit_image, encode

# Root ignores file permissions; without these two capabilities it obeys them like anyone else.
NO_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
PRICE = {"CRIM": 0.1, "ZN": 10.0, "INDUS": 5.0, "CHAS": 0.0, "NOX": 0.5, "RM": 6.0, "AGE": 50.0,
         "DIS": 4.0, "RAD": 4.0, "TAX": 300.0, "PTRATIO": 18.0, "B": 390.0, "LSTAT": 10.0}  # fmt: skip


def truncate_params(folder: Path) -> tuple[Path, str]:
    """Cut model.pdparams in half and record the new hash, as a botched copy plus re-hash would."""
    params = folder / "model.pdparams"
    params.write_bytes(params.read_bytes()[: params.stat().st_size // 2])
    card = json.loads((folder / "card.json").read_text())
    card["files"]["model.pdparams"] = hashlib.sha256(params.read_bytes()).hexdigest()
    (folder / "card.json").write_text(json.dumps(card))
    return params, "cannot load parameters"


def mismatch_hash(folder: Path) -> tuple[Path, str]:
    """Flip one byte of the parameters; the card's sha256 no longer matches."""
    params = folder / "model.pdparams"
    data = bytearray(params.read_bytes())
    data[-1] ^= 0xFF
    params.write_bytes(bytes(data))
    return params, "does not match"


def remove_card(folder: Path) -> tuple[Path, str]:
    (folder / "card.json").unlink()
    return folder / "card.json", "card is missing"


def folder_is_a_file(folder: Path) -> tuple[Path, str]:
    """The model's path exists but is a plain file (what root sees of an unusable folder)."""
    shutil.rmtree(folder)
    folder.write_text("not a folder\n")
    return folder, "not a directory"


def unreadable_folder(folder: Path) -> tuple[Path, str]:
    """chmod 000 (as root, the server must run without the capabilities that bypass permissions)."""
    folder.chmod(0)
    return folder / "card.json", "Permission denied"


FAULTS: dict[str, Callable[[Path], tuple[Path, str]]] = {
    "truncated_params": truncate_params,
    "hash_mismatch": mismatch_hash,
    "missing_card": remove_card,
    "folder_is_a_file": folder_is_a_file,
}


@pytest.fixture
def models_copy(fixture_models_dir: Path) -> Iterator[Path]:
    """A fresh copy of the fixture models, to break."""
    root = Path(tempfile.mkdtemp(prefix="hardening-faults-"))
    shutil.copytree(fixture_models_dir, root / "models")
    yield root / "models"
    for path in [root, *root.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(root, ignore_errors=True)


def check_serving_without(client: httpx.Client, broken: str) -> None:
    """/livez 200, /readyz 503 naming the broken model, its route 503, the other model's route 200."""
    assert client.get("/livez").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503, ready.text
    assert ready.json()["error"]["code"] == "not_ready"
    assert f"{broken} (failed)" in ready.json()["error"]["message"], ready.text
    files = {"file": ("d.png", encode(digit_image(), "PNG"), "image/png")}
    digit = client.post("/predict/digit", files=files)
    price = client.post("/predict/price", json=PRICE)
    down, up = (digit, price) if broken == "mnist" else (price, digit)
    assert down.status_code == 503, down.text
    assert down.json()["error"]["code"] == "model_unavailable"
    assert str(Path(tempfile.gettempdir())) not in down.text  # no server paths for clients
    assert up.status_code == 200, up.text


@pytest.mark.parametrize(
    ("fault", "broken"),
    [("truncated_params", "boston"), ("hash_mismatch", "mnist"), ("missing_card", "boston"),
     ("folder_is_a_file", "mnist")],
)  # fmt: skip
def test_broken_folder_in_process(fault: str, broken: str, models_copy: Path) -> None:
    """The same app object uvicorn serves, through its lifespan (TestClient): fast, no process start."""
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.settings import Settings

    bad_path, reason = FAULTS[fault](models_copy / broken)
    app = create_app(Settings(models_dir=models_copy))
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("app").addHandler(handler)
    try:
        with TestClient(app) as client:
            check_serving_without(client, broken)
    finally:
        logging.getLogger("app").removeHandler(handler)
    errors = [r.getMessage() for r in records if r.levelno >= logging.ERROR]
    assert any(str(bad_path) in m and reason in m and broken in m for m in errors), errors


def test_unreadable_folder_in_a_real_process(models_copy: Path, tmp_path: Path) -> None:
    """chmod 000 on the mnist folder; the process starts, logs the file and why, exits 0 on SIGTERM."""
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv (util-linux): chmod 000 would not bite")
    bad_path, reason = unreadable_folder(models_copy / "mnist")
    wrapper = NO_DAC if os.geteuid() == 0 else None
    env = {"PADDLE_SERVE_MODELS_DIR": str(models_copy)}
    server = LiveServer(env, log_path=tmp_path / "server.log", wrapper=wrapper).start(wait_for="/livez")
    try:
        with httpx.Client(base_url=server.url, timeout=30.0) as client:
            check_serving_without(client, "mnist")
    finally:
        exit_code = server.stop()
    log = server.log()
    assert f"ERROR app.service [-] model mnist not loaded from {bad_path.parent}: {bad_path}" in log, log[
        -3000:
    ]
    assert reason in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    assert exit_code == 0, log[-3000:]
