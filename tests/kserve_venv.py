"""A virtual environment with KServe from PyPI (scripts/venvs.py), for the tests that use it.

KServe pins protobuf < 7 and Paddle needs a newer one, so KServe cannot share the project's venv.
"""

from __future__ import annotations

from pathlib import Path

from scripts.venvs import isolated_venv

KSERVE = "kserve==0.21.0"


def kserve_python() -> Path:
    """The interpreter of the KServe environment, installing it on first use (about a minute)."""
    return isolated_venv(KSERVE) / "bin" / "python"
