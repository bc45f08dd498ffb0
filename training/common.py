"""Small pieces every training script shares: the command line, the timestamp, seeding."""

from __future__ import annotations

import random
import shlex
import sys
from datetime import UTC, datetime

import numpy as np


def command_line(module: str, argv: list[str] | None = None) -> str:
    """The exact command that ran, as `python -m <module> <args>`, for the card."""
    args = sys.argv[1:] if argv is None else argv
    return " ".join(["python", "-m", module, *(shlex.quote(a) for a in args)])


def utc_timestamp() -> str:
    """Now, as ISO-8601 UTC to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python's, NumPy's and Paddle's generators; return a NumPy generator for the script's own draws."""
    import paddle

    random.seed(seed)
    np.random.seed(seed)
    paddle.seed(seed)
    return np.random.default_rng(seed)


def parse_limit(value: str) -> int:
    """argparse type for `--limit`: a positive integer."""
    n = int(value)
    if n <= 0:
        raise ValueError("must be positive")
    return n
