"""A virtual environment with KServe from PyPI, made once under .cache/venvs, for tests that use it.

KServe pins protobuf < 7 and Paddle needs a newer one, so KServe cannot share the project's venv.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from scripts.live_server import REPO

KSERVE = "kserve==0.21.0"
VENV = REPO / ".cache" / "venvs" / KSERVE.replace("==", "-")


def kserve_python() -> Path:
    """The interpreter of the KServe environment, installing it on first use (about a minute)."""
    python = VENV / "bin" / "python"
    if not (VENV / ".installed").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True, timeout=120)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", KSERVE]
        subprocess.run(pip, check=True, capture_output=True, timeout=900)
        (VENV / ".installed").touch()
    return python
