"""The ensemble's members: each DigitNet trained by `training.mnist.fit` from its own seed, side by side.

Paddle trains on one thread here (two threads were slower), so one process per member uses the
second core that a single training leaves idle. Each member runs in a spawned process; its chosen
weights come back as arrays.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import TYPE_CHECKING

import numpy as np
import paddle

from models.networks import DigitEnsemble, DigitNet
from training.common import seed_everything
from training.datasets import Mnist
from training.mnist_validation import Choice
from training.served import Served

if TYPE_CHECKING:  # training.mnist imports this module
    from training.mnist import Config


@dataclass
class Member:
    """One trained member: its chosen weights, its history, and which weights fit kept."""

    state: dict[str, np.ndarray]
    history: dict[str, list[float | None]]
    choice: Choice


def train_member(job: tuple[int, Config, Mnist, Served, Served]) -> Member:
    """Member k, seeded cfg.seed + k and trained by `fit`; runs in a spawned process."""
    from training.mnist import fit  # training.mnist imports this module

    k, cfg, data, train, val = job
    rng = seed_everything(cfg.seed + k)
    net = DigitNet(**cfg.network)
    history, choice = fit(net, data, train, val, cfg, rng, f"member {k} " if cfg.members > 1 else "")
    return Member({name: v.numpy() for name, v in net.state_dict().items()}, history, choice)


def train_ensemble(
    data: Mnist, train: Served, val: Served, cfg: Config
) -> tuple[DigitEnsemble, list[Member]]:
    """cfg.members members trained side by side, one process each (at most one per core)."""
    jobs = [(k, cfg, data, train, val) for k in range(cfg.members)]
    workers = max(1, min(cfg.members, os.cpu_count() or 1))
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        members = list(pool.map(train_member, jobs))
    net = DigitEnsemble(cfg.members, **cfg.network)
    for layer, member in zip(net.members, members, strict=True):
        layer.set_state_dict({name: paddle.to_tensor(v) for name, v in member.state.items()})
    net.eval()
    return net, members
