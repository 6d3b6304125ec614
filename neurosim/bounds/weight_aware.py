"""Bounds that use the actual weights: worst case and given failed set.

Both propagate a vector e^(l) of per-neuron deviation bounds: |y'_i - y_i|
<= e_i for a correct signal, where y' is the faulty run's value. For receiver
j of layer l, a signal from i contributes to its pre-activation deviation at
most

    correct    c_ji = |W_ji| e_i + eta (B_i + e_i)
    missing    a_ji = |W_ji| B_i
    corrupted  r_ji = |W_ji| (C + B_i) + eta C

(B_i: the interval bound on |y_i|; eta: the weight precision of layer l;
C: the Byzantine capacity). With the signals known (given set), the
pre-activation deviation is at most d_j = sum_i of the right term.

Worst case, for *at most* m missing and at most z corrupted signals into
each receiver, any of them, a different set at every receiver:

    d_j = sum_i c_ji + top_{m+z} over i of (a_ji - c_ji)^+ + top_z over i of (r_ji - a_ji)

Why it holds: for a failed set with missing signals M and corrupted Z
(disjoint, |M| <= m, |Z| <= z), the deviation is at most
sum_i c_ji + sum_{M u Z} (a_ji - c_ji) + sum_Z (r_ji - a_ji). The first sum
over M u Z (at most m + z signals) is at most the top m + z of the positive
parts, and r_ji - a_ji = C (|W_ji| + eta) >= 0, so the second is at most the
top z. The positive part matters: a correct signal can deviate by more than a
missing one (e_i > B_i, when upstream deviations are large), so fewer
failures can do more harm, and a quorum receiver that skips a corrupted
signal uses one more correct signal than "exactly m + z failed" assumes.

Local Lipschitz constants: the fault-free pre-activation of j lies in
[s_lo, s_hi] (interval propagation) and the faulty one within d_j of it, so
phi's slope on [s_lo - d_j, s_hi + d_j] bounds the output deviation, and so
does the width of phi's image of that interval.

Floating point: each d_j > 0 gets the rounding of the two sums (faulty and
fault-free) and each activation the rounding of its two evaluations
(`neurosim.bounds.rounding`), so the bounds hold for the float64 values the
engine computes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from neurosim.bounds.failed_terms import FailedSignals
from neurosim.bounds.intervals import Intervals
from neurosim.bounds.linear_intervals import network_intervals
from neurosim.bounds.rounding import (
    activation_error,
    finite_or_inf,
    inflate,
    may_overflow,
    overflow_slack,
    summation_error,
    widen,
)
from neurosim.data.counts import Failures
from neurosim.data.network import Network
from neurosim.data.signals import CORRECT, CORRUPTED, MISSING

Array = np.ndarray

__all__ = ["CORRECT", "CORRUPTED", "MISSING", "given_set_bound", "given_set_bounds",
           "given_set_layers", "signals_for_crashed", "weight_aware_bound", "weight_aware_layers"]


def _top_k_sum(a: Array, k: int) -> Array:
    """Sum of the k largest entries of each row of a (shape (n, m)) -> (n,)."""
    if k <= 0:
        return np.zeros(a.shape[0])
    if k >= a.shape[1]:
        return a.sum(axis=1)
    return np.partition(a, a.shape[1] - k, axis=1)[:, -k:].sum(axis=1)


def _rounded(d: Array, W: Array, b: Array, B: Array, faulty_abs: Array,
             fault_free: Array | None = None) -> Array:
    """d (real pre-activation deviation bounds) plus the rounding of both runs' sums.

    faulty_abs: (N_l,) a bound on sum_i |W_ji + err_ji| |u'_i| over what the
    faulty run sums; the fault-free one sums W_ji y_i with |y_i| <= B_i (its
    rounding term, `fault_free`, if already computed).
    Where d_j = 0 both runs sum the same bits, and no term is needed.
    """
    n = W.shape[1]
    if fault_free is None:
        fault_free = summation_error(np.abs(W) @ B, b, n)
    rho = summation_error(faulty_abs, b, n) + fault_free
    return finite_or_inf(np.where(d > 0, inflate(d, n) + rho, 0.0))


def _activate(net: Network, iv: Intervals, l: int, d: Array, local: bool,
              overflow: Array | bool = False) -> Array:
    """Output deviation bound of layer l's neurons from pre-activation deviation d.

    overflow: where the faulty run's sum may overflow (`may_overflow`): its value can be
    NaN, which phi keeps NaN, so there phi's range bounds nothing and the bound is +inf
    (where d > 0: elsewhere both runs compute the same bits)."""
    overflow = np.asarray(overflow) & (d > 0)
    if l > net.depth:
        return np.where(overflow, np.inf, d)  # the output layer is linear
    phi = net.phis[l - 1]
    with np.errstate(invalid="ignore", over="ignore"):
        if not local:
            sup = phi.sup_abs if phi.bounded else 0.0  # unbounded ones round exactly
            e = phi.lipschitz * d + 2 * activation_error(phi.name, sup)
        else:
            a, b = widen(iv.pre_low[l] - d, iv.pre_high[l] + d, 0.0)
            ya, yb = phi(a), phi(b)
            size = np.maximum(np.abs(ya), np.abs(yb))
            width = yb - ya + 2 * activation_error(phi.name, size)
            slope = inflate(phi.slope(a, b), 8)
            e = np.minimum(np.minimum(slope * d, phi.lipschitz * d), width)
            e = e + 2 * activation_error(phi.name, size)
            # A zero slope: phi is constant on the interval, in float64 too.
            e = np.where(slope > 0, e, 0.0)
        e = np.where(d > 0, inflate(e, 4), 0.0)
    return np.where(overflow, np.inf, finite_or_inf(e))


def weight_aware_layers(net: Network, failures: Failures, local: bool = True,
                        intervals: Intervals | None = None) -> list[Array]:
    """e^(l) for l = 0..L+1 under the worst failed sets of at most the given sizes.

    The last entry, shape (N_{L+1},), bounds each output's error.
    """
    iv = intervals or network_intervals(net)
    C = failures.capacity
    e = np.zeros(net.sizes[0])
    es = [e]
    for l, (W, bias) in enumerate(zip(net.weights, net.biases), start=1):
        A = np.abs(W)
        B = iv.sup_abs(l - 1)
        m, z, eta = failures.missing[l - 1], failures.corrupted[l - 1], failures.eta[l - 1]
        with np.errstate(invalid="ignore", over="ignore"):
            correct = A * e + eta * (B + e)
            d = correct.sum(axis=1)
            if m + z:
                d = d + _top_k_sum(np.maximum(A * B - correct, 0.0), m + z)
            if z:
                d = d + C * _top_k_sum(A + eta, z)
            # A faulty input is at most B_i + e_i (correct), C (corrupted) or 0 (missing).
            U = np.maximum(B + e, C if z else 0.0)
            # (|W| + eta) U, not |W| U + eta sum(U): no partial sum above the total (U's
            # own sum can overflow where the total does not).
            faulty = (A + eta) @ U
            d = _rounded(finite_or_inf(d), W, bias, B, faulty)
        n = W.shape[1]
        e = _activate(net, iv, l, d, local, may_overflow(faulty, bias, n, overflow_slack(n)))
        es.append(e)
    return es


def weight_aware_bound(net: Network, failures: Failures, local: bool = True,
                       intervals: Intervals | None = None) -> float:
    """Weight-aware worst case (with local slopes if `local`): output error bound, max-norm."""
    return float(weight_aware_layers(net, failures, local, intervals)[-1].max())


def _signal_sums(A: Array, B: Array, et: float, ei: Array, kind: Array | None,
                 capacity: float, shared: dict | None = None) -> tuple[Array, Array]:
    """Per receiver, the sums over senders of each signal's deviation term and of
    (|W| + eta) |what the faulty run sums|; kind None: every signal correct.

    ei: the senders' deviations as a row of every receiver, (..., 1, N_{l-1}); kind
    broadcasts against A (N_l, N_{l-1}). Compiled (`neurosim.bounds.signal_sums`): a
    block of trials needs no (trials, N_l, N_{l-1}) array of terms. shared: unused here
    (kept for the callers that pass what a layer's calls share)."""
    from neurosim.bounds.signal_sums import signal_sums  # compiles on first use

    shape = np.broadcast_shapes(A.shape, ei.shape, np.shape(kind))
    n_l, n = A.shape
    lead = shape[:-2]
    trials = int(np.prod(lead, dtype=np.int64))
    e = np.broadcast_to(ei, (*lead, 1, n)).reshape(trials, n)
    kinds = np.broadcast_to(np.int8(CORRECT) if kind is None else kind,
                            shape).reshape(trials, n_l, n)
    per_signal, faulty = np.empty((trials, n_l)), np.empty((trials, n_l))
    signal_sums(np.ascontiguousarray(A), np.ascontiguousarray(B, dtype=float), float(et),
                np.ascontiguousarray(e, dtype=float), kinds, float(capacity), MISSING,
                CORRUPTED, per_signal, faulty)
    return per_signal.reshape(shape[:-1]), faulty.reshape(shape[:-1])


def _failed_sums(A: Array, B: Array, et: float, kind: Array, capacity: float,
                 shared: dict, failed: FailedSignals | None = None) -> tuple[Array, Array]:
    """`_signal_sums` where every correct signal's term is exactly 0 (`_quiet`): the
    failed signals' terms alone (`FailedSignals`). The faulty run's sum of magnitudes is
    bounded by every sender's (|W| + eta) B (shared by all trials) plus (|W| + eta)
    (C - B)^+ for each corrupted signal: a missing signal adds 0 there, a correct one at
    most its share, a corrupted one at most (|W| + eta) max(B, C), as in the worst case
    (never more: where that sum may overflow the bound is +inf, `may_overflow`).
    failed: `FailedSignals.of(kind)`, if already found."""
    failed = FailedSignals.of(kind) if failed is None else failed
    a, b = A.reshape(-1)[failed.weight], B[failed.sender]
    per_signal = failed.sums(np.where(failed.corrupted, a * (capacity + b) + et * capacity,
                                      a * b))
    if "all_senders" not in shared:
        shared["all_senders"] = ((A + et) * B).sum(axis=-1)
    faulty = shared["all_senders"] + failed.sums(
        np.where(failed.corrupted, (a + et) * np.maximum(capacity - b, 0.0), 0.0))
    return per_signal, faulty


def _quiet(A: Array, B: Array, et: float, e: Array, shared: dict) -> Array:
    """Whether every correct signal into the layer adds exactly 0 (no sender deviates, and
    eta B is 0): a bool, or (T,) for senders' deviations e of shape (T, N_{l-1})."""
    if "static_quiet" not in shared:
        shared["static_quiet"] = bool(np.isfinite(A).all() and not np.any(et * B))
    if not shared["static_quiet"]:
        return np.zeros(e.shape[:-1], dtype=bool)
    return ~np.any(e != 0.0, axis=-1)


def _by_trials(shape: tuple[int, ...], parts: list[tuple[Array, tuple[Array, Array]]]
               ) -> tuple[Array, Array]:
    """Both sums of a block, (T, N_l) each, put together from groups of its trials:
    parts [(rows, (per_signal_sum, faulty_sum))], rows a bool (T,) mask per group."""
    sums = (np.empty(shape), np.empty(shape))
    for rows, pair in parts:
        for total, value in zip(sums, pair, strict=True):
            total[rows] = value
    return sums


def _layer_sums(A: Array, B: Array, et: float, e: Array, kind: Array | None,
                capacity: float, shared: dict, failed: FailedSignals | None = None
                ) -> tuple[Array, Array]:
    """`_signal_sums` for a layer, e the senders' deviations ((N_{l-1},) or (T, N_{l-1})),
    choosing per trial between the failed signals alone and every signal. failed:
    `FailedSignals.of(kind)`, if already found."""
    ei = e[..., None, :]  # the senders' deviations, as a row of every receiver
    if kind is None:
        return _signal_sums(A, B, et, ei, None, capacity, shared)
    kind = np.asarray(kind)
    kind = np.broadcast_to(kind, np.broadcast_shapes(A.shape, kind.shape))
    quiet = _quiet(A, B, et, e, shared)
    if np.all(quiet):
        return _failed_sums(A, B, et, kind, capacity, shared, failed)
    if np.ndim(kind) == 3 and e.ndim == 2 and quiet.any():
        return _by_trials(kind.shape[:-1], [
            (quiet, _failed_sums(A, B, et, kind[quiet], capacity, shared)),
            (~quiet, _signal_sums(A, B, et, ei[~quiet], kind[~quiet], capacity, shared))])
    if np.ndim(kind) == 3 and e.ndim == 1:
        # A block whose senders' deviations are shared (nothing failed below): the
        # trials that used every signal of this layer share one row.
        some = (kind != CORRECT).reshape(len(kind), -1).any(axis=1) if failed is None \
            else failed.per_trial()
        if not some.all():
            return _by_trials(kind.shape[:-1], [
                (rows, _signal_sums(A, B, et, ei, k, capacity, shared))
                for rows, k in ((~some, None), (some, kind[some])) if rows.any()])
    return _signal_sums(A, B, et, ei, kind, capacity, shared)


def _layer_terms(terms: dict | None, l: int, W: Array, bias: Array, B: Array,
                 et: float) -> dict:
    """What every call for layer l with this eta shares: |W|, the fault-free run's
    rounding term, and (filled by `_signal_sums`) the terms of missing signals and of
    senders with shared deviations. Kept in `terms` when the caller gives one."""
    key = (l, et)
    if terms is not None and key in terms:
        return terms[key]
    A = np.abs(W)
    with np.errstate(invalid="ignore", over="ignore"):
        out = {"A": A, "fault_free": summation_error(A @ B, bias, W.shape[1])}
    if terms is not None:
        terms[key] = out
    return out


def given_set_layers(
    net: Network,
    signals: Sequence[Array | None],
    eta: Sequence[float] | float = 0.0,
    capacity: float = 1.0,
    local: bool = True,
    intervals: Intervals | None = None,
    terms: dict | None = None,
    failed: Sequence[FailedSignals] | None = None,
) -> list[Array]:
    """e^(l) for l = 0..L+1 when the failed signals are known.

    signals[l-1]: int array (N_l, N_{l-1}) with CORRECT, MISSING or CORRUPTED
    for what receiver j of layer l used from sender i; None means all correct.
    A crashed neuron appears as a MISSING column of the next layer.

    A block of trials at once: signals[l-1] of shape (T, N_l, N_{l-1}) gives
    e^(l) of shape (T, N_l) for l >= 1, each row bit-identical to that trial's
    own call (elementwise operations; each receiver's terms summed along its row or,
    where a correct signal adds exactly 0, over its failed signals in sender order,
    as the trial's own values decide).

    terms: a dict the caller keeps between calls with the same network, eta,
    capacity and intervals (a run's blocks): what they share is computed once.
    failed: `FailedSignals.of(signals[l-1])` per layer, if the caller has them.
    """
    iv = intervals or network_intervals(net)
    etas = [float(eta)] * len(net.weights) if np.isscalar(eta) else list(eta)
    e = np.zeros(net.sizes[0])
    es = [e]
    for l, (W, bias) in enumerate(zip(net.weights, net.biases), start=1):
        B = iv.sup_abs(l - 1)
        et = etas[l - 1]
        shared = _layer_terms(terms, l, W, bias, B, et)
        A = shared["A"]
        kind = signals[l - 1]
        with np.errstate(invalid="ignore", over="ignore"):
            per_signal_sum, faulty_sum = _layer_sums(A, B, et, e, kind, capacity, shared,
                                                     None if failed is None else failed[l - 1])
            d = _rounded(finite_or_inf(per_signal_sum), W, bias, B, faulty_sum,
                         shared["fault_free"])
        e = _activate(net, iv, l, d, local, may_overflow(faulty_sum, bias, W.shape[1]))
        es.append(e)
    return es


def given_set_bound(net: Network, signals: Sequence[Array | None],
                    eta: Sequence[float] | float = 0.0, capacity: float = 1.0,
                    local: bool = True, intervals: Intervals | None = None) -> float:
    """Given-set bound (with local slopes if `local`): output error bound for known signals."""
    return float(given_set_layers(net, signals, eta, capacity, local, intervals)[-1].max())


def given_set_bounds(net: Network, signals: Sequence[Array],
                     eta: Sequence[float] | float = 0.0, capacity: float = 1.0,
                     local: bool = True, intervals: Intervals | None = None,
                     terms: dict | None = None,
                     failed: Sequence[FailedSignals] | None = None) -> Array:
    """`given_set_bound` for a block of T trials: signals[l-1] (T, N_l, N_{l-1}) -> (T,).
    terms, failed: as for `given_set_layers`."""
    return given_set_layers(net, signals, eta, capacity, local, intervals, terms,
                            failed)[-1].max(axis=-1)


def signals_for_crashed(net: Network, crashed: Sequence[Sequence[int]]) -> list[Array | None]:
    """Signal kinds when the neurons `crashed[l-1]` of hidden layer l crash, all else correct."""
    sizes = net.sizes
    out: list[Array | None] = [None]
    for l in range(1, net.depth + 1):
        kind = np.zeros((sizes[l + 1], sizes[l]), dtype=np.int8)
        kind[:, list(crashed[l - 1])] = MISSING
        out.append(kind)
    return out
