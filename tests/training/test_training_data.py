"""Data readers: the restricted unpickler, IDX files, the whitespace housing.data, MNIST from a folder."""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from models.features import BOSTON_COLUMNS
from training import datasets
from training.datasets import DataError, UnsafePickleError, read_idx, restricted_loads


class CallsSystem:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned",))


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def test_restricted_unpickler_refuses_os_system() -> None:
    with pytest.raises(UnsafePickleError, match=r"system"):
        restricted_loads(pickle.dumps(CallsSystem(), protocol=2))


def test_restricted_unpickler_refuses_other_callables() -> None:
    with pytest.raises(UnsafePickleError, match=r"eval: only NumPy"):
        restricted_loads(pickle.dumps(eval, protocol=2))


def test_restricted_unpickler_loads_numpy_arrays() -> None:
    x = np.arange(12, dtype=np.float32).reshape(3, 4) / 256
    y = np.array([1, 2, 3], dtype=np.int64)
    loaded = restricted_loads(pickle.dumps(((x, y),), protocol=4))
    np.testing.assert_array_equal(loaded[0][0], x)
    assert loaded[0][1].dtype == np.int64


def test_mnist_pickle_floats_become_exact_uint8(tmp_path: Path) -> None:
    pixels = np.array([0, 1, 128, 255] * 196, dtype=np.uint8).reshape(1, 784)
    split = (pixels.astype(np.float32) / 256, np.array([7]))
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps((split, split, split), protocol=4)))
    arrays = datasets.mnist_arrays_from_pickle(path)
    np.testing.assert_array_equal(arrays["x_test"], pixels.reshape(1, 28, 28))
    assert arrays["y_val"].tolist() == [7]


def test_idx_reader_reads_generated_file(tmp_path: Path) -> None:
    images = np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256
    write_idx(tmp_path / "x.gz", images)
    np.testing.assert_array_equal(read_idx(tmp_path / "x.gz"), images)
    (tmp_path / "bad").write_bytes(b"\x00\x00\x0d\x01" + (3).to_bytes(4, "big") + b"abc")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(tmp_path / "bad")


def test_mnist_from_idx_folder_holds_out_last_training_images(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(datasets, "VALIDATION_SIZE", 2)
    train = np.repeat(np.arange(5, dtype=np.uint8), 28 * 28).reshape(5, 28, 28)
    arrays = (train, np.arange(5), train[:3], np.arange(3))
    for name, array in zip(datasets.MNIST_IDX_FILES, arrays, strict=True):
        write_idx(tmp_path / name, array)
    mnist = datasets.load_mnist(tmp_path)
    assert mnist.y_train.tolist() == [0, 1, 2] and mnist.y_val.tolist() == [3, 4]
    assert mnist.x_val[1, 0, 0] == 4 and mnist.x_test.shape == (3, 28, 28)


def test_whitespace_housing_data_loads(tmp_path: Path) -> None:
    rows = [
        " 0.00632  18.00   2.310  0  0.5380  6.5750  65.20  4.0900   1  296.0  15.30 396.90   4.98  24.00",
        " 0.02731   0.00   7.070  0  0.4690  6.4210  78.90  4.9671   2  242.0  17.80 396.90   9.14  21.60",
    ]
    (tmp_path / "housing.data").write_text("\n".join(rows) + "\n")
    data, info = datasets.load_boston(tmp_path)
    assert data.shape == (2, len(BOSTON_COLUMNS))
    assert data[1, -1] == 21.6 and data[0, 5] == 6.575
    assert info.source == "file:housing.data"


def test_missing_local_data_names_the_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"housing\.data"):
        datasets.load_boston(tmp_path)
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz"):
        datasets.load_mnist(tmp_path)
