"""The model-folder format: write a folder with its card, verify it, load it back in eval mode.

A folder holds `model.pdparams` (the state dict, `paddle.save`), `card.json` and any plots.
The card lists the sha256 of every other file; nothing is loaded before every hash matches.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # paddle costs ~1.4 s to import; only load_model and write need it
    from paddle import nn

CARD_NAME = "card.json"
PARAMS_NAME = "model.pdparams"


class ModelFolderError(Exception):
    """A model folder cannot be used. The message names the folder, the file and why."""


class MissingFileError(ModelFolderError):
    """Raised when the folder, its card, or a file the card lists does not exist or cannot be read."""


class HashMismatchError(ModelFolderError):
    """Raised when a file's sha256 differs from the one its card records."""


class CardError(ModelFolderError):
    """Raised when card.json is not valid JSON or lacks what the loader needs."""


class ParameterError(ModelFolderError):
    """Raised when the parameter file does not fit the network the card describes."""


@dataclass(frozen=True)
class LoadedModel:
    """A verified network in eval mode, with the card it was rebuilt from."""

    folder: Path
    card: dict[str, Any]
    network: nn.Layer

    @property
    def name(self) -> str:
        return str(self.card["name"])

    @property
    def version(self) -> str:
        return str(self.card["version"])

    @property
    def temperature(self) -> float:
        """The softmax temperature the card's calibration fitted (1 when it has none)."""
        return float(self.card.get("calibration", {}).get("temperature", 1.0))


def sha256_file(path: Path, progress: Callable[[int], object] | None = None) -> str:
    """The hex sha256 of a file, read in 1 MiB chunks; `progress` is told each chunk's size."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
            if progress is not None:
                progress(len(chunk))
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of the interpreter and libraries that shape a model's numbers."""
    import numpy
    import paddle

    return {"python": platform.python_version(), "paddle": paddle.__version__, "numpy": numpy.__version__}


def fixture_card(
    name: str, task: str, network: dict[str, Any], *, version: str, source: str
) -> dict[str, Any]:
    """A card with placeholder provenance, for the fixture folders that tests and benchmarks write."""
    return {
        "name": name,
        "version": version,
        "task": task,
        "network": network,
        "data": {"name": "fixture", "source": source, "sha256": "0" * 64},
        "config": {},
        "seed": 0,
        "command": source,
        "versions": {"python": platform.python_version()},
        "created": "1970-01-01T00:00:00Z",
        "wall_time_s": 0.0,
    }


def write_model_folder(folder: Path, network: nn.Layer, card: dict[str, Any]) -> dict[str, Any]:
    """Save `network`'s parameters into `folder`, hash every file there and write the card last.

    Plots and other files must already be in `folder`. Returns the card as written.
    """
    import paddle

    folder.mkdir(parents=True, exist_ok=True)
    paddle.save(network.state_dict(), str(folder / PARAMS_NAME))
    files = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name != CARD_NAME)
    card = {**card, "files": {name: sha256_file(folder / name) for name in files}}
    text = json.dumps(card, indent=2, ensure_ascii=False) + "\n"
    # Write then rename, so a crash never leaves a half-written card next to new parameters.
    with tempfile.NamedTemporaryFile("w", dir=folder, delete=False, suffix=".tmp") as tmp:
        tmp.write(text)
    os.chmod(tmp.name, 0o644)  # NamedTemporaryFile makes it 0600; the card must be as readable as the rest
    os.replace(tmp.name, folder / CARD_NAME)
    return card


def read_card(folder: Path) -> dict[str, Any]:
    """Read and parse `folder/card.json` without checking hashes."""
    path = folder / CARD_NAME
    if not folder.is_dir():
        raise MissingFileError(f"{folder}: model folder does not exist or is not a directory")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MissingFileError(f"{path}: card is missing") from None
    except OSError as exc:
        raise MissingFileError(f"{path}: cannot read card ({exc.strerror})") from None
    try:
        card = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CardError(f"{path}: not valid JSON ({exc})") from None
    for key in ("name", "version", "network", "files"):
        if not isinstance(card, dict) or key not in card:
            raise CardError(f"{path}: missing the key {key!r}")
    if PARAMS_NAME not in card["files"]:
        raise CardError(f"{path}: 'files' does not list {PARAMS_NAME}")
    return card


def verify_folder(folder: Path) -> dict[str, Any]:
    """Check every file the card lists against its sha256; return the card."""
    card = read_card(folder)
    for name, expected in card["files"].items():
        path = folder / name
        if Path(name).name != name:
            raise CardError(f"{folder / CARD_NAME}: file name {name!r} is not a plain name")
        try:
            actual = sha256_file(path)
        except FileNotFoundError:
            raise MissingFileError(f"{path}: listed in the card but missing") from None
        except OSError as exc:
            raise MissingFileError(f"{path}: cannot read ({exc.strerror})") from None
        if actual != expected:
            raise HashMismatchError(f"{path}: sha256 {actual} does not match the card's {expected}")
    return card


def load_model(folder: Path | str) -> LoadedModel:
    """Verify a folder, rebuild its network from the card alone, load the parameters, set eval mode."""
    import paddle

    from models.networks import build_network

    folder = Path(folder)
    card = verify_folder(folder)
    spec = card["network"]
    try:
        network = build_network(spec["class"], dict(spec.get("kwargs", {})))
    except (KeyError, TypeError, ValueError) as exc:
        raise CardError(f"{folder / CARD_NAME}: cannot build the network ({exc})") from None
    params_path = folder / PARAMS_NAME
    try:
        state = paddle.load(str(params_path))
    except Exception as exc:  # paddle raises many types for a bad file
        raise ParameterError(f"{params_path}: cannot load parameters ({exc})") from None
    expected = network.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = [k for k in expected if k in state and list(state[k].shape) != list(expected[k].shape)]
    if missing or unexpected or wrong_shape:
        raise ParameterError(
            f"{params_path}: does not fit {spec['class']} "
            f"(missing {missing}, unexpected {unexpected}, wrong shape {wrong_shape})"
        )
    network.set_state_dict(state)
    network.eval()
    return LoadedModel(folder=folder, card=card, network=network)
