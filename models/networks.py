"""The network definitions, rebuilt by the loader from a card's class name and arguments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import paddle
from paddle import nn


class Regressor(nn.Layer):
    """The tutorial's house-price model: one fully connected layer, 13 inputs, 1 output."""

    def __init__(self, in_features: int = 13) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, 1)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:  # (N, 13) -> (N, 1), normalized units
        return self.fc(x)


class DigitNet(nn.Layer):
    """A small VGG-style CNN for 28x28 digits: 3x3 convs with BatchNorm, max-pooling, one hidden layer.

    `channels` holds one entry per 3x3 convolution; a 2x2 max-pool follows each conv whose index is in
    `pools` (default: every second one). The default pools early (28 -> 14 -> 7 -> 3), which costs
    about a quarter of the CPU time of two convs at 28x28 for the same accuracy.
    """

    def __init__(
        self,
        channels: Sequence[int] = (16, 32, 32, 64),
        hidden: int = 128,
        dropout: float = 0.1,
        num_classes: int = 10,
        pools: Sequence[int] | None = (0, 2, 3),
    ) -> None:
        super().__init__()
        pool_after = set(range(1, len(channels), 2) if pools is None else pools)
        layers: list[nn.Layer] = []
        in_channels, size = 1, 28
        for i, out_channels in enumerate(channels):
            layers += [
                nn.Conv2D(in_channels, out_channels, 3, padding=1, bias_attr=False),
                nn.BatchNorm2D(out_channels),
                nn.ReLU(),
            ]
            if i in pool_after:
                layers.append(nn.MaxPool2D(2))
                size //= 2
            in_channels = out_channels
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(in_channels * size * size, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:  # (N, 1, 28, 28) -> (N, 10) logits
        return self.classifier(self.features(x))


NETWORKS: dict[str, type[nn.Layer]] = {"Regressor": Regressor, "DigitNet": DigitNet}


def build_network(class_name: str, kwargs: dict[str, Any]) -> nn.Layer:
    """Construct a network from its class name and constructor arguments, as a card records them."""
    try:
        cls = NETWORKS[class_name]
    except KeyError:
        raise ValueError(f"unknown network class {class_name!r}; known: {sorted(NETWORKS)}") from None
    return cls(**kwargs)
