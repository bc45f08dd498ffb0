"""An exponential moving average of a network's weights, kept beside the trained ones.

The average of the last few thousand steps' weights sits in a flatter part of the loss than the
weights of any one step; `training.mnist` scores both on validation after every epoch and keeps
whichever is better, so the average is used only where validation shows it helps.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import paddle


class WeightAverage:
    """EMA of every floating-point tensor of a network's state (parameters and BatchNorm statistics)."""

    def __init__(self, net: paddle.nn.Layer, decay: float) -> None:
        self.decay = decay
        self.steps = 0
        self.shadow = {
            k: v.detach().clone() for k, v in net.state_dict().items() if paddle.is_floating_point(v)
        }

    def update(self, net: paddle.nn.Layer) -> None:
        """Fold the network's current weights in; the decay ramps up over the first steps."""
        self.steps += 1
        d = min(self.decay, (1 + self.steps) / (10 + self.steps))
        state = net.state_dict()
        with paddle.no_grad():
            for k, s in self.shadow.items():
                paddle.assign(s * d + state[k].detach() * (1 - d), output=s)

    def state(self, net: paddle.nn.Layer, own: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """The network's state (`own`, if already copied) with the averaged tensors in place, as copies."""
        base = state_copy(net) if own is None else own
        return base | {k: s.numpy().copy() for k, s in self.shadow.items()}

    @contextmanager
    def applied(self, net: paddle.nn.Layer) -> Iterator[None]:
        """The network holds the averaged weights inside the block and its own ones again after it."""
        own = state_copy(net)
        net.set_state_dict({k: paddle.to_tensor(v) for k, v in self.state(net, own).items()})
        try:
            yield
        finally:
            net.set_state_dict({k: paddle.to_tensor(v) for k, v in own.items()})


def state_copy(net: paddle.nn.Layer) -> dict[str, np.ndarray]:
    """The network's whole state as numpy copies (which later steps do not change)."""
    return {k: v.numpy().copy() for k, v in net.state_dict().items()}
