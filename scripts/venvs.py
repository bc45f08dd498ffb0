"""Virtual environments of their own under .cache/venvs, for tools whose pins clash with the project's.

KServe pins protobuf < 7 (Paddle needs a newer one); MLServer pins an older FastAPI.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def isolated_venv(package: str, *extra: str) -> Path:
    """The folder of a venv with `package` (`name==version`) and `extra` installed, made on first use."""
    venv = REPO / ".cache" / "venvs" / package.replace("==", "-")
    if not (venv / ".installed").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, timeout=120)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, package, *extra], check=True, capture_output=True, timeout=900)
        (venv / ".installed").touch()
    return venv
