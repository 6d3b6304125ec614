"""Interval bound propagation of the input box through the network (docs/bounds.md).

Gives, for every neuron, an interval that holds its fault-free pre-activation
and output over the whole input domain. From it come B_l for unbounded
activations and the local Lipschitz constants.

The intervals hold the float64 values the engine computes, not only the real
ones: each is widened by two summation errors (that of the interval
arithmetic itself and that of the engine's sum) and, after phi, by two
activation errors (`neurosim.bounds.rounding`), then rounded outward. An
overflow (inf - inf, 0 * inf) gives the whole line, never NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurosim.bounds.rounding import activation_error, summation_error, widen
from neurosim.data.network import Network

Array = np.ndarray


@dataclass(frozen=True)
class Intervals:
    """Per layer l = 0..L+1: pre-activation and output intervals, shapes (N_l,).

    For layer 0 the pre-activation interval is the input box itself; for the
    linear output layer the output equals the pre-activation.
    """

    pre_low: list[Array]
    pre_high: list[Array]
    low: list[Array]
    high: list[Array]

    def sup_abs(self, layer: int) -> Array:
        """Per-neuron bound on |y_i| of `layer`, shape (N_layer,)."""
        return np.maximum(np.abs(self.low[layer]), np.abs(self.high[layer]))


def interval_bounds(net: Network) -> Intervals:
    """Propagate the input box [input_low, input_high] through `net`."""
    lo, hi = net.input_low.astype(float), net.input_high.astype(float)
    pre_low, pre_high, low, high = [lo], [hi], [lo], [hi]
    for l in range(1, net.depth + 2):
        slo, shi = affine_interval(net, l, lo, hi)
        lo, hi = activation_interval(net, l, slo, shi)
        pre_low.append(slo)
        pre_high.append(shi)
        low.append(lo)
        high.append(hi)
    return Intervals(pre_low, pre_high, low, high)


def affine_interval(net: Network, l: int, lo: Array, hi: Array) -> tuple[Array, Array]:
    """Interval of layer l's pre-activations (float64 as the engine sums them) when layer
    l-1's outputs lie in [lo, hi], shapes (N_{l-1},) -> (N_l,)."""
    W, b = net.weights[l - 1], net.biases[l - 1]
    Wp, Wn = np.maximum(W, 0.0), np.minimum(W, 0.0)
    with np.errstate(invalid="ignore", over="ignore"):
        slo = Wp @ lo + Wn @ hi + b
        shi = Wp @ hi + Wn @ lo + b
        size = np.abs(W) @ np.maximum(np.abs(lo), np.abs(hi))
        slo, shi = widen(slo, shi, 2 * summation_error(size, b, W.shape[1]))
    return np.where(np.isnan(slo), -np.inf, slo), np.where(np.isnan(shi), np.inf, shi)


def activation_interval(net: Network, l: int, slo: Array, shi: Array) -> tuple[Array, Array]:
    """Interval of layer l's outputs (float64) from that of its pre-activations; the
    linear output layer passes it on."""
    if l > net.depth:
        return slo, shi
    # Activations are monotone: the image of [slo, shi] is [phi(slo), phi(shi)].
    phi = net.phis[l - 1]
    with np.errstate(invalid="ignore", over="ignore"):
        lo, hi = phi(slo), phi(shi)
        err = 2 * activation_error(phi.name, np.maximum(np.abs(lo), np.abs(hi)))
        lo, hi = widen(lo, hi, err)
    # phi's float64 values stay in its range (exp and the division are monotone).
    return np.maximum(lo, phi.low), np.minimum(hi, phi.high)


def layer_sup(net: Network, intervals: Intervals | None = None) -> list[float]:
    """B_l for l = 0..L: sup|phi_l| for bounded activations, else from the intervals."""
    if intervals is None and all(phi.bounded for phi in net.phis):
        # No interval propagation needed (it is most of the paper bound's time).
        b0 = float(np.maximum(np.abs(net.input_low), np.abs(net.input_high)).max())
        return [b0] + [phi.sup_abs for phi in net.phis]
    iv = intervals or interval_bounds(net)
    out = [float(iv.sup_abs(0).max())]
    for l, phi in enumerate(net.phis, start=1):
        out.append(phi.sup_abs if phi.bounded else float(iv.sup_abs(l).max()))
    return out
