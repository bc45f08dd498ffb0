"""The tutorial's NumPy network: exact gradient, and GD / SGD reach the least-squares optimum."""

from __future__ import annotations

import numpy as np
import pytest

from training.boston_data import BostonSplit, closed_form, split_and_normalize
from training.boston_numpy import Config, Network, train


def synthetic_split(n: int = 200, noise: float = 0.0, seed: int = 1) -> BostonSplit:
    """A small well-conditioned linear problem in the Boston layout: 13 features then the target."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, 13))
    y = x @ np.linspace(-1, 1, 13) + 0.5 + noise * rng.standard_normal(n)
    return split_and_normalize(np.column_stack([x, y]))


def test_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((20, 13)), rng.standard_normal((20, 1))
    net = Network(13, seed=3)
    net.b = 0.3
    grad_w, grad_b = net.gradient(x, y)
    eps = 1e-6
    numeric = np.zeros_like(net.w)
    for i in range(13):
        net.w[i, 0] += eps
        up = net.loss(net.forward(x), y)
        net.w[i, 0] -= 2 * eps
        down = net.loss(net.forward(x), y)
        net.w[i, 0] += eps
        numeric[i, 0] = (up - down) / (2 * eps)
    net.b += eps
    up = net.loss(net.forward(x), y)
    net.b -= 2 * eps
    numeric_b = (up - net.loss(net.forward(x), y)) / (2 * eps)
    np.testing.assert_allclose(grad_w, numeric, rtol=1e-6, atol=1e-8)
    assert grad_b == pytest.approx(numeric_b, rel=1e-6)


@pytest.mark.parametrize(
    "cfg", [Config(mode="gd", epochs=2000, lr=0.2), Config(mode="sgd", epochs=300, batch_size=16, lr=0.1)]
)
def test_gd_and_sgd_reach_closed_form(cfg: Config) -> None:
    split = synthetic_split()
    optimum = closed_form(split)
    net, losses = train(split, cfg)
    assert losses[-1] < losses[0] / 100
    np.testing.assert_allclose(net.w, optimum.w, atol=1e-4)
    assert net.b == pytest.approx(optimum.b, abs=1e-4)


def test_closed_form_is_the_least_squares_optimum() -> None:
    split = synthetic_split(noise=0.05)
    optimum = closed_form(split)
    design = np.hstack([split.x_train, np.ones((len(split.x_train), 1))])
    residual = design @ np.vstack([optimum.w, [[optimum.b]]]) - split.y_train
    np.testing.assert_allclose(design.T @ residual, 0.0, atol=1e-10)  # normal equations hold
    assert optimum.train_mse == pytest.approx(float(np.mean(residual**2)))


def test_split_scales_training_columns_to_unit_range() -> None:
    data = np.arange(14 * 10, dtype=np.float64).reshape(10, 14) ** 1.5
    split = split_and_normalize(data)
    assert len(split.x_train) == 8 and len(split.x_test) == 2
    train = np.hstack([split.x_train, split.y_train])
    np.testing.assert_allclose(train.min(axis=0), 0.0)
    np.testing.assert_allclose(train.max(axis=0), 1.0)
    np.testing.assert_allclose(split.denormalize_price(split.y_test[:, 0]), data[8:, -1])
