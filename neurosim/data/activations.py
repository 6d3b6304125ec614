"""Activation functions with the constants the bounds need (SPEC 1).

Every activation here is monotone non-decreasing, so the image of an interval
[a, b] is [phi(a), phi(b)]; the bounds (interval propagation, local Lipschitz
constants) rely on that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Array = np.ndarray


def _sigmoid(s: Array) -> Array:
    # Split by sign so that exp never overflows.
    out = np.empty_like(s, dtype=float)
    pos = s >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-s[pos]))
    e = np.exp(s[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def _sigmoid_slope(a: Array, b: Array) -> Array:
    # sigma' is largest at the point c of [a, b] closest to 0. Written as
    # t / (1 + t)^2 with t = exp(-|c|), not y (1 - y): that keeps its relative
    # accuracy where sigma(c) rounds to 1 (the slope is then tiny, not 0).
    t = np.exp(-np.abs(np.clip(0.0, a, b)))
    return t / (1.0 + t) ** 2


def _tanh_slope(a: Array, b: Array) -> Array:
    # 1 - tanh(c)^2 = 4 t / (1 + t)^2 with t = exp(-2|c|), accurate where tanh(c) rounds to 1.
    t = np.exp(-2.0 * np.abs(np.clip(0.0, a, b)))
    return 4.0 * t / (1.0 + t) ** 2


def _relu_slope(a: Array, b: Array) -> Array:
    # relu is flat on (-inf, 0]: a neuron whose pre-activation never exceeds 0 passes nothing.
    return np.where(np.asarray(b) > 0.0, 1.0, 0.0)


def _hard_sigmoid(s: Array) -> Array:
    return np.clip(0.25 * s + 0.5, 0.0, 1.0)


def _hard_sigmoid_slope(a: Array, b: Array) -> Array:
    # Slope 1/4 on [-2, 2], flat outside.
    return np.where((np.asarray(b) > -2.0) & (np.asarray(a) < 2.0), 0.25, 0.0)


@dataclass(frozen=True)
class Activation:
    """A monotone, K-Lipschitz activation phi.

    `low`/`high` is the range of phi (may be infinite); `lipschitz` is K,
    the global Lipschitz constant; `slope(a, b)` is the Lipschitz constant of
    phi restricted to [a, b] (elementwise, a <= b), to a few units of
    roundoff; it is 0 only where phi is constant on [a, b] in float64 too.
    """

    name: str
    lipschitz: float
    low: float
    high: float
    fn: Callable[[Array], Array]
    slope: Callable[[Array, Array], Array]

    def __call__(self, s: Array) -> Array:
        return self.fn(s)

    @property
    def sup_abs(self) -> float:
        """sup |phi| over its range (inf for unbounded activations)."""
        return max(abs(self.low), abs(self.high))

    @property
    def bounded(self) -> bool:
        return bool(np.isfinite(self.low) and np.isfinite(self.high))

    def __repr__(self) -> str:
        return f"Activation({self.name!r}, K={self.lipschitz}, range=[{self.low}, {self.high}])"


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in [
        Activation("sigmoid", 0.25, 0.0, 1.0, _sigmoid, _sigmoid_slope),
        Activation("tanh", 1.0, -1.0, 1.0, np.tanh, _tanh_slope),
        Activation("relu", 1.0, 0.0, np.inf, lambda s: np.maximum(s, 0.0), _relu_slope),
        Activation(
            "identity", 1.0, -np.inf, np.inf, lambda s: np.asarray(s, dtype=float) * 1.0,
            lambda a, b: np.ones(np.broadcast(a, b).shape),
        ),
        Activation("hard_sigmoid", 0.25, 0.0, 1.0, _hard_sigmoid, _hard_sigmoid_slope),
    ]
}

# scikit-learn's names for the same functions.
SKLEARN_NAMES = {"logistic": "sigmoid", "tanh": "tanh", "relu": "relu", "identity": "identity"}


def get_activation(name: str) -> Activation:
    """The activation called `name`; KeyError listing the known names otherwise."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise KeyError(
            f"unknown activation {name!r} (known: {', '.join(sorted(ACTIVATIONS))})"
        ) from None
