"""Bounds that use the actual weights (SPEC 4): worst case and given failed set.

Both propagate a vector e^(l) of per-neuron deviation bounds. For receiver j
of layer l, a signal from i contributes to its pre-activation deviation

    correct    |W_ji| e_i + eta (B_i + e_i)
    missing    |W_ji| B_i
    corrupted  |W_ji| (C + B_i) + eta C

(B_i: the interval bound on |y_i|; eta: the weight precision of layer l).
The worst case (4.1) takes, per receiver, the m + z failed signals that add
most, so it holds for any failed set of those sizes and for every receiver
missing a different set (boosting). The given-set bound (4.2) uses the set.

Local Lipschitz constants (4.3): the fault-free pre-activation of j lies in
[s_lo, s_hi] (interval propagation) and the faulty one within d_j of it, so
phi's slope on [s_lo - d_j, s_hi + d_j] bounds the output deviation, and so
does the width of phi's image of that interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from neurosim.bounds.intervals import Intervals, interval_bounds
from neurosim.data.counts import Failures
from neurosim.data.network import Network

Array = np.ndarray

CORRECT, MISSING, CORRUPTED = 0, 1, 2


def _top_k_sum(a: Array, k: int) -> Array:
    """Sum of the k largest entries of each row of a (shape (n, m)) -> (n,)."""
    if k <= 0:
        return np.zeros(a.shape[0])
    if k >= a.shape[1]:
        return a.sum(axis=1)
    return np.partition(a, a.shape[1] - k, axis=1)[:, -k:].sum(axis=1)


def _activate(net: Network, iv: Intervals, l: int, d: Array, local: bool) -> Array:
    """Output deviation bound of layer l's neurons from pre-activation deviation d."""
    if l > net.depth:
        return d  # the output layer is linear
    phi = net.phis[l - 1]
    if not local:
        return phi.lipschitz * d
    a, b = iv.pre_low[l] - d, iv.pre_high[l] + d
    return np.minimum(phi.slope(a, b) * d, phi(b) - phi(a))


def weight_aware_layers(net: Network, failures: Failures, local: bool = True,
                        intervals: Intervals | None = None) -> list[Array]:
    """e^(l) for l = 0..L+1 under the worst failed sets of the given sizes (SPEC 4.1).

    The last entry, shape (N_{L+1},), bounds each output's error.
    """
    iv = intervals or interval_bounds(net)
    C = failures.capacity
    e = np.zeros(net.sizes[0])
    es = [e]
    for l, W in enumerate(net.weights, start=1):
        A = np.abs(W)
        B = iv.sup_abs(l - 1)
        m, z, eta = failures.missing[l - 1], failures.corrupted[l - 1], failures.eta[l - 1]
        correct = A * e + eta * (B + e)
        d = correct.sum(axis=1)
        if m + z:
            # Any failed set: its extra over "all correct" is at most the top m+z
            # of (missing - correct), plus the top z of (corrupted - missing).
            d = d + _top_k_sum(A * B - correct, m + z)
        if z:
            d = d + C * _top_k_sum(A + eta, z)
        e = _activate(net, iv, l, d, local)
        es.append(e)
    return es


def weight_aware_bound(net: Network, failures: Failures, local: bool = True,
                       intervals: Intervals | None = None) -> float:
    """SPEC 4.1 (with 4.3 if `local`): bound on the output error, max-norm."""
    return float(weight_aware_layers(net, failures, local, intervals)[-1].max())


def given_set_layers(
    net: Network,
    signals: Sequence[Array | None],
    eta: Sequence[float] | float = 0.0,
    capacity: float = 1.0,
    local: bool = True,
    intervals: Intervals | None = None,
) -> list[Array]:
    """e^(l) for l = 0..L+1 when the failed signals are known (SPEC 4.2).

    signals[l-1]: int array (N_l, N_{l-1}) with CORRECT, MISSING or CORRUPTED
    for what receiver j of layer l used from sender i; None means all correct.
    A crashed neuron appears as a MISSING column of the next layer.
    """
    iv = intervals or interval_bounds(net)
    etas = [float(eta)] * len(net.weights) if np.isscalar(eta) else list(eta)
    e = np.zeros(net.sizes[0])
    es = [e]
    for l, W in enumerate(net.weights, start=1):
        A = np.abs(W)
        B = iv.sup_abs(l - 1)
        et = etas[l - 1]
        per_signal = A * e + et * (B + e)
        kind = signals[l - 1]
        if kind is not None:
            per_signal = np.where(kind == MISSING, A * B, per_signal)
            per_signal = np.where(kind == CORRUPTED, A * (capacity + B) + et * capacity,
                                  per_signal)
        e = _activate(net, iv, l, per_signal.sum(axis=1), local)
        es.append(e)
    return es


def given_set_bound(net: Network, signals: Sequence[Array | None],
                    eta: Sequence[float] | float = 0.0, capacity: float = 1.0,
                    local: bool = True, intervals: Intervals | None = None) -> float:
    """SPEC 4.2 (with 4.3 if `local`): output error bound for the known failed signals."""
    return float(given_set_layers(net, signals, eta, capacity, local, intervals)[-1].max())


def signals_for_crashed(net: Network, crashed: Sequence[Sequence[int]]) -> list[Array | None]:
    """Signal kinds when the neurons `crashed[l-1]` of hidden layer l crash, all else correct."""
    sizes = net.sizes
    out: list[Array | None] = [None]
    for l in range(1, net.depth + 1):
        kind = np.zeros((sizes[l + 1], sizes[l]), dtype=np.int8)
        kind[:, list(crashed[l - 1])] = MISSING
        out.append(kind)
    return out
