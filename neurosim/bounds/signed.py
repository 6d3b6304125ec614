"""A bound on the output error that keeps signs: linear bounds substituted back (CROWN style).

The weight-aware bound propagates one magnitude per neuron. This one bounds the
signed deviation d^(l) = y'^(l) - y^(l) (faulty minus fault-free) with linear
functions, substituted back through the layers as in CROWN / auto_LiRPA, so
that a crashed sigmoid neuron removes a value of known sign and two paths of
opposite signs cancel.

For receiver j of layer l, with y'_i = y_i + d_i the value sender i computes
(for a crashed or Byzantine sender, the value it would compute), the
pre-activation deviation splits into a linear part and a failure term:

    Ds_j = sum_i W_ji d_i + r_j,
    r_j  = sum_{i correct} e_ji y'_i                      (|e_ji| <= eta_l)
         + sum_{i missing} (-W_ji y'_i)                   (used value 0)
         + sum_{i corrupted} ((W_ji + e_ji) v - W_ji y'_i) (used value v in [-C, C]).

Each term of r_j is a signed interval from the interval of y'_i. The worst case
takes, per receiver, the at most m missing and z corrupted senders that push
r_j furthest up (for the upper end) and down (for the lower end), so it holds
when every receiver misses a different set; a given set sums its own terms.

The activation: d_j = phi(s_j + Ds_j) - phi(s_j) lies between k_min Ds_j and
k_max Ds_j (slope range of phi over the reachable pre-activations); over the
interval [a_j, b_j] of Ds_j these envelopes are bounded by two lines (chords
where the interval holds 0). The interval [a_j, b_j] itself comes from the same
back-substitution, run from layer j's own layer. The bound is the exact
maximum of this relaxed network, which contains the real one; because every
box and every line only widens with the counts, the worst-case bound is never
below the given-set bound for a set within those counts.

Float64 (the bound holds for what the engine computes): the rounding of every
receiver's sums in both runs widens the box of r (`_rho`), the rounding of phi
in both runs widens the lines' offsets (`_relax`), and the substitution's own
rounding is bounded by a companion sum of magnitudes (`_substitute`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from math import comb

import numpy as np

from neurosim.bounds.failed_terms import FailedSignals, failure_box
from neurosim.bounds.intervals import Intervals
from neurosim.bounds.linear_intervals import network_intervals
from neurosim.bounds.rounding import (
    TINY,
    activation_error,
    finite_or_inf,
    gamma,
    inflate,
    may_overflow,
    summation_error,
    up,
    widen,
)
from neurosim.bounds.substitution_sums import SHORT
from neurosim.bounds.weight_aware import (
    CORRECT,
    CORRUPTED,
    MISSING,
    _top_k_sum,
    given_set_bound,
    weight_aware_bound,
)
from neurosim.data.activations import Activation
from neurosim.data.counts import Failures
from neurosim.data.network import Network

Array = np.ndarray
# Enumerate the failed sets of each output when there are at most this many.
MAX_SETS = 128
# Where a line's numbers are subnormal, each product or quotient is off by up to half the
# smallest subnormal TINY whatever its size (relative bounds say nothing there): the chords'
# slope by 2 TINY / (b - a), the line by 2 TINY at |Ds| <= b - a, the offset by 3 TINY / 2;
# and the substitution's product of a slope with a box end by TINY / 2 per neuron, before it
# is multiplied by a coefficient that a line's offset also meets. 8 TINY covers them.
UNDERFLOW = 8 * TINY


@dataclass(frozen=True)
class SignedLayers:
    """Per receiving layer l = 1..L+1 (index l-1), shapes (N_l,).

    dev_low, dev_high: bounds on the pre-activation deviation Ds^(l) (for the
    linear output layer, on the output error itself). box_low, box_high: the
    failure term r^(l).
    """

    dev_low: list[Array]
    dev_high: list[Array]
    box_low: list[Array]
    box_high: list[Array]

    @property
    def bound(self) -> float:
        """The output error bound, max-norm over outputs (inf where the arithmetic
        overflowed: a NaN bounds nothing)."""
        v = np.maximum(-self.dev_low[-1], self.dev_high[-1])
        return float(np.inf if np.any(np.isnan(v)) else v.max())


@dataclass(frozen=True)
class _Relaxation:
    """lo_slope * Ds + lo_off <= d <= up_slope * Ds + up_off, per neuron of a hidden layer.

    dev_abs, pre_abs: bounds on |d| and |Ds| (for the float error of the substitution).
    """

    up_slope: Array
    up_off: Array
    lo_slope: Array
    lo_off: Array
    dev_abs: Array
    pre_abs: Array


def min_slope(phi: Activation, a: Array, b: Array) -> Array:
    """The smallest slope of phi on [a, b] (elementwise), the counterpart of `phi.slope`."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if phi.name in ("sigmoid", "tanh"):
        # phi' is unimodal around 0: its minimum on [a, b] is at an end.
        return np.minimum(phi.slope(a, a), phi.slope(b, b))
    if phi.name == "relu":
        return np.where(a >= 0.0, 1.0, 0.0)
    if phi.name == "hard_sigmoid":
        return np.where((a >= -2.0) & (b <= 2.0), 0.25, 0.0)
    if phi.name == "identity":
        return np.ones(np.broadcast(a, b).shape)
    return np.zeros(np.broadcast(a, b).shape)  # sound for any monotone phi


def _relax(phi: Activation, s_lo: Array, s_hi: Array, a: Array, b: Array) -> _Relaxation:
    """Lines around d = phi(s + Ds) - phi(s) for s in [s_lo, s_hi] and Ds in [a, b].

    phi is monotone with slopes in [k_min, k_max] between s and s + Ds, so d
    lies between min(k_min Ds, k_max Ds) (concave in Ds) and max(k_min Ds,
    k_max Ds) (convex): where [a, b] holds 0, the chords over [a, b] bound them.
    Float64: the slopes are rounded outward, and the offsets widened by the
    rounding of the chords and of phi in both runs (the activation term).
    """
    with np.errstate(invalid="ignore", over="ignore"):
        lo_dom, hi_dom = widen(s_lo + np.minimum(a, 0.0), s_hi + np.maximum(b, 0.0), 0.0)
        k_max = inflate(phi.slope(lo_dom, hi_dom), 8)
        k_min = np.minimum(min_slope(phi, lo_dom, hi_dom) * (1.0 - gamma(8)), k_max)
        pos, neg = a >= 0.0, b <= 0.0
        width = np.where(pos | neg, 1.0, b - a)
        chord_up = (k_max * b - k_min * a) / width
        chord_lo = (k_min * b - k_max * a) / width
        # The chords' offset |a| b (k_max - k_min) / (b - a) >= 0 where [a, b] holds 0, as
        # |a| times a fraction <= 1: a * b first underflows to 0 for subnormal ends
        # (|a| b ~ 1e-636), which lost the whole offset.
        gap = np.where(pos | neg, 0.0, -a * (b / width) * (k_max - k_min))
        up_slope = np.where(pos, k_max, np.where(neg, k_min, chord_up))
        lo_slope = np.where(pos, k_min, np.where(neg, k_max, chord_lo))
        pre_abs = np.maximum(np.abs(a), np.abs(b))
        size = np.maximum(np.abs(phi(lo_dom)), np.abs(phi(hi_dom)))
        margin = up(gamma(16) * k_max * pre_abs + 2 * activation_error(phi.name, size)
                    + UNDERFLOW)
        up_off, lo_off = finite_or_inf(gap + margin), -finite_or_inf(gap + margin)
        dev_abs = finite_or_inf(np.maximum(
            np.maximum(np.abs(up_slope * a + up_off), np.abs(up_slope * b + up_off)),
            np.maximum(np.abs(lo_slope * a + lo_off), np.abs(lo_slope * b + lo_off))))
    return _Relaxation(up_slope, up_off, lo_slope, lo_off, dev_abs, pre_abs)


def _bump(phi: Activation, c: Array, t_lo: Array, t_hi: Array) -> tuple[Array, Array]:
    """(inf, sup) over t in [t_lo, t_hi] of phi(t + c) - phi(t), for c >= 0 (elementwise).

    For sigmoid, tanh and hard_sigmoid (odd about their centre) it is a bump
    in t, largest at t = -c/2, so the sup is at the point of the interval
    closest to -c/2 and the inf at an end. relu's is non-decreasing in t;
    identity's is c.
    """
    def f(t):
        return phi(t + c) - phi(t)

    inf = np.minimum(f(t_lo), f(t_hi))
    if phi.name == "relu":
        return inf, f(t_hi)
    if phi.name == "identity":
        return c * 1.0, c * 1.0
    return inf, f(np.clip(-c / 2.0, t_lo, t_hi))


def _relax_flat(phi: Activation, s_lo: Array, s_hi: Array, a: Array, b: Array) -> _Relaxation:
    """Constant lines: d between the smallest and the largest phi(s + Ds) - phi(s) over
    s in [s_lo, s_hi] and Ds in [a, b] (at Ds = a and Ds = b: d is monotone in Ds).

    Tighter than the chords at the ends (the chords use the largest slope over the whole
    reachable interval), but they pass nothing of Ds on: no cancellation below this layer.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        pa, pb = np.abs(a), np.abs(b)
        # d at Ds = b: sup over s. For b >= 0 the bump's sup; for b < 0 it is
        # -(inf over t = s + b of phi(t + |b|) - phi(t)).
        inf_b, sup_b = _bump(phi, pb, s_lo + np.minimum(b, 0.0), s_hi + np.minimum(b, 0.0))
        up_val = np.where(b >= 0.0, sup_b, -inf_b)
        inf_a, sup_a = _bump(phi, pa, s_lo + np.minimum(a, 0.0), s_hi + np.minimum(a, 0.0))
        lo_val = np.where(a >= 0.0, inf_a, -sup_a)
        lo_dom, hi_dom = widen(s_lo + np.minimum(a, 0.0), s_hi + np.maximum(b, 0.0), 0.0)
        k_max = inflate(phi.slope(lo_dom, hi_dom), 8)
        size = np.maximum(np.abs(phi(lo_dom)), np.abs(phi(hi_dom)))
        # Rounding: of the evaluation above (its arguments t and t + c, phi twice, the
        # difference), and of phi in both runs.
        reach = np.maximum(np.abs(lo_dom), np.abs(hi_dom)) + np.maximum(pa, pb)
        margin = up(gamma(16) * (k_max * reach + size) + 6 * activation_error(phi.name, size)
                    + UNDERFLOW)
        up_off = finite_or_inf(np.minimum(up_val, k_max * np.maximum(b, 0.0)) + margin)
        lo_off = -finite_or_inf(-np.maximum(lo_val, k_max * np.minimum(a, 0.0)) + margin)
        zero = np.zeros_like(up_off)
        dev_abs = np.maximum(np.abs(up_off), np.abs(lo_off))
    return _Relaxation(zero, up_off, zero, lo_off, dev_abs, np.maximum(pa, pb))


def _substitute(net: Network, l: int, g: Array, const: Array, first: int,
                boxes: list[tuple[Array, Array]], relax: list[_Relaxation]) -> Array:
    """Upper bounds of the rows of g . d^(l-1) + const, substituting down to layer `first`.

    g: (rows, N_{l-1}) coefficients on the output deviation of layer l-1.
    Below `first` (the first layer with a failure term) nothing deviates.
    Float64: beside the bound, a companion sums the magnitudes of every term
    (and of the deviations the rounded coefficients multiply); the bound is
    raised by gamma_n times that.
    """
    const = const.copy()
    size = np.abs(const)
    mag_g = np.abs(g)
    off = np.zeros(len(const))  # per row, a bound on every coefficient's underflow error
    under = np.zeros(len(const))  # per row, what underflows add to const
    with np.errstate(invalid="ignore", over="ignore"):
        for k in range(l - 1, first - 1, -1):
            rx = relax[k - 1]  # d^(k) between lines in Ds^(k)
            gp, gn = np.maximum(g, 0.0), np.minimum(g, 0.0)
            const += row_dot(gp, rx.up_off) + row_dot(gn, rx.lo_off)
            offsets = rx.up_off + rx.dev_abs
            size += row_dot(mag_g, offsets)
            live = np.any(g != 0.0, axis=-1)
            under += underflow_term(off, offsets, live)
            # On Ds^(k) = W d^(k-1) + r^(k) the coefficients are lam = gp * up_slope +
            # gn * lo_slope. The slopes are >= 0, so lam has g's sign: its positive part
            # gp * up_slope meets r's upper end and its negative part r's lower end. The
            # slopes multiply the box first: a product with g then, no lam array at all.
            r_lo, r_hi = boxes[k - 1]
            slope = np.maximum(rx.up_slope, rx.lo_slope)
            const += row_dot(gp, rx.up_slope * r_hi) + row_dot(gn, rx.lo_slope * r_lo)
            terms = slope * (np.maximum(np.abs(r_lo), np.abs(r_hi)) + rx.pre_abs)
            size += row_dot(mag_g, terms)
            under += underflow_term(off, terms, live)
            if k == first:
                break
            lam = gp * rx.up_slope + gn * rx.lo_slope
            off = coefficient_underflow(off, slope.max(), np.any(lam != 0.0, axis=-1),
                                        net.weights[k - 1])
            g = lam @ net.weights[k - 1]
            mag_g = (mag_g * slope) @ np.abs(net.weights[k - 1])
        err = gamma(sum(net.sizes) + 16) * (size + under) + under
        return finite_or_inf(up(const + up(err)))


def row_dot(m: Array, v: Array) -> Array:
    """m @ v for m (rows, n) and v (n,): on rows of at most SHORT terms, each row's products
    summed in numpy's order, (m * v).sum(-1), whose bits the block version's compiled kernel
    gives (`neurosim.bounds.substitution_sums`); on longer rows, BLAS's product."""
    if m.shape[-1] <= SHORT:
        return (m * v).sum(axis=-1)
    return m @ v


def underflow_term(off: Array, values: Array, live: Array) -> Array:
    """What underflow adds to a row's sum of coefficients times `values` (..., n): the
    coefficients' own errors (`off`, per row) times the values, and TINY / 2 per product
    whose value is subnormal (only where some coefficient and some value is not 0).

    The same expression for one trial and for a block (values (B, n), rows (B, rows)):
    a max and a product, no sum whose order could differ."""
    n = values.shape[-1]
    top = values.max(axis=-1, keepdims=True) if values.ndim > 1 else values.max()
    some = np.any(values != 0.0, axis=-1, keepdims=values.ndim > 1)
    return off * (n * top) + np.where(live & some, n * TINY, 0.0)


def coefficient_underflow(off: Array, slope_max: Array | float, live: Array, W: Array
                          ) -> Array:
    """`off` of g = lam W from that of the coefficients on the layer above: lam = g times a
    slope (<= slope_max), one product each, then W's products and sums; nothing is added
    where every lam of the row is 0 (exact zeros: the flat lines' rows)."""
    add = np.where(live, TINY, 0.0)
    return (off * slope_max + add) * np.abs(W).sum(axis=0).max() + add * W.shape[1]


def _back_substitute(net: Network, t: int, first: int, boxes: list[tuple[Array, Array]],
                     relax: list[_Relaxation]) -> tuple[Array, Array]:
    """Bounds (low, high) on Ds^(t) from the relaxations of layers < t and the boxes <= t.

    Rows are the upper bounds of +Ds^(t) and of -Ds^(t), computed at once.
    """
    n = net.sizes[t]
    W = net.weights[t - 1]
    r_lo, r_hi = boxes[t - 1]
    g = np.vstack([W, -W]) if t > first else np.zeros((2 * n, W.shape[1]))
    const = _substitute(net, t, g, np.concatenate([r_hi, -r_lo]), first, boxes, relax)
    return -const[n:], const[:n]


def _rho(net: Network, rule: FailureRule, iv: Intervals, l: int, p_lo: Array, p_hi: Array
         ) -> Array:
    """Rounding of receiving layer l's sums, (N_l,): the faulty run's and the fault-free
    run's (the engine), and the failure box's own (this code)."""
    W, b = net.weights[l - 1], net.biases[l - 1]
    A, n = np.abs(W), W.shape[1]
    eta = rule.eta[l - 1]
    u = np.maximum(np.maximum(np.abs(p_lo), np.abs(p_hi)), rule.capacity_used(l))
    faulty = faulty_rounding(A @ u + eta * u.sum(), b, n)
    return faulty + faulty + summation_error(A @ iv.sup_abs(l - 1), b, n)


def precision_term(eta: float, y_lo: Array, y_hi: Array) -> bool:
    """Whether a correct signal's precision term eta |y'_i| is positive in real arithmetic
    for some sender (eta > 0, a value not 0): then the runs differ from this layer on, even
    where the term rounds to 0 (eta |y| = 2^-1075) and the box with it."""
    with np.errstate(invalid="ignore"):
        return bool(eta > 0 and np.any(np.maximum(np.abs(y_lo), np.abs(y_hi)) != 0.0))


def faulty_rounding(magnitude: Array, b: Array, n: int) -> Array:
    """`summation_error` of the faulty run's sums, whose magnitudes add up to `magnitude`;
    +inf where such a sum may overflow (`may_overflow`): a NaN (inf - inf) that phi keeps,
    so that no line, box or range of phi holds the faulty value there."""
    return np.where(may_overflow(magnitude, b, n), np.inf, summation_error(magnitude, b, n))


def signed_layers(net: Network, rule: FailureRule, intervals: Intervals | None = None,
                  flat: bool = False) -> SignedLayers:
    """Deviation bounds of every receiving layer, given how to bound the failure terms.

    flat: constant lines for the activations (`_relax_flat`) instead of chords.
    """
    iv = intervals or network_intervals(net)
    phis = net.phis
    out_layer = net.depth + 1
    y_lo, y_hi = iv.low[0], iv.high[0]  # inputs are exact: y' = y
    boxes: list[tuple[Array, Array]] = []
    relax: list[_Relaxation] = []
    dev_low, dev_high = [], []
    first = None
    for l in range(1, out_layer + 1):
        with np.errstate(invalid="ignore", over="ignore"):
            r_lo, r_hi = rule.box(l, y_lo, y_hi)
            # The runs differ from the first layer with a failure term or a failed signal
            # (failed terms can cancel to exactly 0 while the two runs' sums round apart).
            if first is None and (np.any(r_lo != 0.0) or np.any(r_hi != 0.0)
                                  or rule.fails(l) or precision_term(rule.eta[l - 1], y_lo,
                                                                     y_hi)):
                first = l
            if first is not None:
                # From the first failure on, the two runs round differently.
                r_lo, r_hi = widen(r_lo, r_hi, _rho(net, rule, iv, l, y_lo, y_hi))
        r_lo, r_hi = -finite_or_inf(-r_lo), finite_or_inf(r_hi)
        boxes.append((r_lo, r_hi))
        if first is None:
            a = b = np.zeros(net.sizes[l])
        else:
            a, b = _back_substitute(net, l, first, boxes, relax)
        if l == out_layer and first is not None and first < l:
            a, b = _masked_output(net, rule, iv, y_lo, y_hi, first, boxes, relax, a, b)
        dev_low.append(a)
        dev_high.append(b)
        if l < out_layer:
            phi, s_lo, s_hi = phis[l - 1], iv.pre_low[l], iv.pre_high[l]
            relax.append((_relax_flat if flat else _relax)(phi, s_lo, s_hi, a, b))
            y_lo, y_hi = _faulty_values(phi, s_lo, s_hi, a, b)
    return SignedLayers(dev_low, dev_high, [bx[0] for bx in boxes], [bx[1] for bx in boxes])


def _faulty_values(phi: Activation, s_lo: Array, s_hi: Array, a: Array, b: Array
                   ) -> tuple[Array, Array]:
    """What a layer's neurons compute under failures: phi of the reachable faulty
    pre-activation (phi is monotone), rounded outward and kept in phi's range."""
    with np.errstate(invalid="ignore", over="ignore"):
        lo, hi = widen(s_lo + a, s_hi + b, 0.0)
        lo, hi = phi(lo), phi(hi)
        lo, hi = widen(lo, hi, 2 * activation_error(
            phi.name, np.maximum(np.abs(lo), np.abs(hi))))
    lo = np.where(np.isnan(lo), -np.inf, np.maximum(lo, phi.low))
    hi = np.where(np.isnan(hi), np.inf, np.minimum(hi, phi.high))
    return lo, hi


def _masked_output(net: Network, rule: FailureRule, iv: Intervals, p_lo: Array, p_hi: Array,
                   first: int, boxes: list[tuple[Array, Array]], relax: list[_Relaxation],
                   a: Array, b: Array) -> tuple[Array, Array]:
    """Tighten the output bounds by taking the failed senders out of the linear part.

    The split Ds_o = sum_i W_oi d_i + r_o charges a failed sender twice (its
    relaxed d_i and the box of -W_oi y'_i). With the failed set T of output o
    known, Ds_o = sum_{i not in T} W_oi d_i + (failure terms of T, which need
    only the fault-free y_i): one substitution per candidate set, the largest
    taken. The result is intersected with the split bounds (both are sound).
    """
    with np.errstate(invalid="ignore", over="ignore"):
        sets = rule.output_sets(net, iv.low[net.depth], iv.high[net.depth], p_lo, p_hi)
    if sets is None:
        return a, b
    rows, g, const = sets  # rows[k] = (output, +1 / -1); upper bound of sign * Ds_o
    with np.errstate(invalid="ignore", over="ignore"):
        const = finite_or_inf(const + _rho(net, rule, iv, net.depth + 1, p_lo, p_hi)[rows[:, 0]])
    with np.errstate(invalid="ignore", over="ignore"):
        up = _substitute(net, net.depth + 1, g, const, first, boxes, relax)
    n = net.sizes[-1]
    best = np.full((n, 2), -np.inf)
    np.maximum.at(best, (rows[:, 0], (rows[:, 1] < 0).astype(int)), up)
    return np.maximum(a, -best[:, 1]), np.minimum(b, best[:, 0])


# ---------------------------------------------------------------- the failure terms


def _signal_terms(W: Array, y_lo: Array, y_hi: Array, eta: float, C: float
                  ) -> tuple[Array, Array, Array, Array]:
    """Per signal (N_l, N_{l-1}): the term of r_j for each kind, as intervals.

    Returns (mag, miss_lo, miss_hi, extra) with y in [y_lo, y_hi] the value
    sent: a correct signal adds [-mag, mag] (precision: e_ji y'_i), a missing
    one [miss_lo, miss_hi] (-W_ji y_i), a corrupted one
    [miss_lo - extra, miss_hi + extra] ((W_ji + e_ji) v - W_ji y_i).
    """
    mag = eta * np.maximum(np.abs(y_lo), np.abs(y_hi))
    p, q = -W * y_lo, -W * y_hi
    return (np.broadcast_to(mag, W.shape), np.minimum(p, q), np.maximum(p, q),
            (np.abs(W) + eta) * C)


class FailureRule:
    """How the failures of receiving layer l enter: the box of r^(l), and candidate sets
    of failed senders per output for `_masked_output` (None: not enumerated)."""

    eta: Sequence[float]  # weight precision per receiving layer

    def box(self, l: int, y_lo: Array, y_hi: Array) -> tuple[Array, Array]:
        raise NotImplementedError

    def capacity_used(self, l: int) -> float:
        """C where a receiver of layer l may use a corrupted value, else 0."""
        raise NotImplementedError

    def fails(self, l: int) -> bool:
        """Whether a signal into layer l is known to have failed (the two runs then sum
        different terms, even where the failure terms add up to exactly 0)."""
        return False

    def output_sets(self, net: Network, y_lo: Array, y_hi: Array, p_lo: Array, p_hi: Array
                    ) -> tuple[Array, Array, Array] | None:
        return None


class WorstCase(FailureRule):
    """At most m missing and z corrupted signals per receiver, each receiver its own set."""

    def __init__(self, net: Network, failures: Failures, max_sets: int = MAX_SETS):
        self.net, self.f, self.max_sets = net, failures, max_sets
        self.eta = failures.eta

    def capacity_used(self, l: int) -> float:
        return self.f.capacity if self.f.corrupted[l - 1] else 0.0

    def fails(self, l: int) -> bool:
        # As a given set with a failed signal into layer l does (`GivenSet.fails`), so that
        # the worst case is never below it: a box of zeros (every failure term rounded to
        # 0, |W| B below TINY / 2) left it 0 where the given set charged the rounding.
        return bool(self.f.missing[l - 1] + self.f.corrupted[l - 1])

    def box(self, l: int, y_lo: Array, y_hi: Array) -> tuple[Array, Array]:
        W = self.net.weights[l - 1]
        m, z = self.f.missing[l - 1], self.f.corrupted[l - 1]
        mag, miss_lo, miss_hi, extra = _signal_terms(W, y_lo, y_hi, self.f.eta[l - 1],
                                                     self.f.capacity)
        base = mag.sum(axis=1)
        hi, lo = base.copy(), -base
        if m + z:
            # Any disjoint M, Z: sum_M (miss - cor) + sum_Z (corr - cor)
            #   = sum_{M+Z} (miss - cor) + sum_Z (corr - miss)  <=  top-(m+z) + top-z.
            hi += _top_k_sum(np.maximum(miss_hi - mag, 0.0), m + z)
            lo -= _top_k_sum(np.maximum(-mag - miss_lo, 0.0), m + z)
        if z:
            hi += _top_k_sum(extra, z)
            lo -= _top_k_sum(extra, z)
        return lo, hi

    def output_sets(self, net, y_lo, y_hi, p_lo, p_hi):
        L1 = net.depth + 1
        W = net.weights[-1]
        n_out, n = W.shape
        m, z = self.f.missing[L1 - 1], self.f.corrupted[L1 - 1]
        k = min(m + z, n)
        if k == 0 or sum(comb(n, i) for i in range(k + 1)) > self.max_sets:
            return None
        cands = [c for size in range(k + 1) for c in itertools.combinations(range(n), size)]
        T = np.zeros((len(cands), n), dtype=bool)
        for r, c in enumerate(cands):
            T[r, list(c)] = True
        mag, miss_lo, miss_hi, extra = _signal_terms(W, y_lo, y_hi, self.f.eta[L1 - 1],
                                                     self.f.capacity)
        mag = _signal_terms(W, p_lo, p_hi, self.f.eta[L1 - 1], self.f.capacity)[0]
        rows, gs, consts = [], [], []
        for sign, fail in ((1.0, miss_hi), (-1.0, -miss_lo)):
            # (out, set): correct senders' precision + failed senders' terms + top-z extra
            c = (mag[:, None, :] * ~T).sum(-1) + (fail[:, None, :] * T).sum(-1)
            if z:
                ex = np.where(T, extra[:, None, :], 0.0)
                c += -np.sort(-ex, axis=-1)[..., :z].sum(-1)
            g = sign * W[:, None, :] * ~T  # (out, set, n)
            rows.append(np.stack(np.broadcast_arrays(np.arange(n_out)[:, None],
                                                     np.full((1, len(T)), sign)), -1))
            gs.append(g)
            consts.append(c)
        rows = np.concatenate([r.reshape(-1, 2) for r in rows]).astype(int)
        g = np.concatenate([x.reshape(-1, n) for x in gs])
        const = np.concatenate([x.reshape(-1) for x in consts])
        return rows, g, const


class GivenSet(FailureRule):
    """The kind of every signal known (same format as `given_set_layers`)."""

    def __init__(self, net: Network, signals: Sequence[Array | None], eta: Sequence[float],
                 capacity: float):
        # As arrays: a nested list compared with MISSING is False, not an array of bools.
        self.signals = [None if k is None else np.asarray(k) for k in signals]
        self.net, self.eta, self.C = net, eta, capacity

    def capacity_used(self, l: int) -> float:
        kind = self.signals[l - 1]
        return self.C if kind is not None and bool(np.any(kind == CORRUPTED)) else 0.0

    def fails(self, l: int) -> bool:
        kind = self.signals[l - 1]
        return kind is not None and bool(np.any(kind != CORRECT))

    def box(self, l: int, y_lo: Array, y_hi: Array) -> tuple[Array, Array]:
        W = self.net.weights[l - 1]
        kind = self.signals[l - 1]
        if kind is not None and not np.any(self.eta[l - 1] * np.maximum(np.abs(y_lo),
                                                                       np.abs(y_hi))):
            # A correct signal adds exactly 0: the failed ones alone.
            kind = np.broadcast_to(kind, W.shape)
            return failure_box(W, y_lo, y_hi, self.eta[l - 1], self.C, FailedSignals.of(kind))
        mag, miss_lo, miss_hi, extra = _signal_terms(W, y_lo, y_hi, self.eta[l - 1], self.C)
        if kind is None:
            base = mag.sum(axis=1)
            return -base, base
        return self._terms(kind, mag, miss_lo, miss_hi, extra)

    @staticmethod
    def _terms(kind, mag, miss_lo, miss_hi, extra):
        missing, corrupted = kind == MISSING, kind == CORRUPTED
        failed = missing | corrupted
        lo = np.where(failed, miss_lo, -mag) - np.where(corrupted, extra, 0.0)
        hi = np.where(failed, miss_hi, mag) + np.where(corrupted, extra, 0.0)
        return lo.sum(axis=1), hi.sum(axis=1)

    def output_sets(self, net, y_lo, y_hi, p_lo, p_hi):
        kind = self.signals[-1]
        if kind is None or not np.any(kind != CORRECT):
            return None
        W = net.weights[-1]
        _, miss_lo, miss_hi, extra = _signal_terms(W, y_lo, y_hi, self.eta[-1], self.C)
        mag = _signal_terms(W, p_lo, p_hi, self.eta[-1], self.C)[0]
        lo, hi = self._terms(kind, mag, miss_lo, miss_hi, extra)
        g = W * (kind == CORRECT)
        n_out = W.shape[0]
        rows = np.concatenate([np.stack([np.arange(n_out), np.ones(n_out)], -1),
                               np.stack([np.arange(n_out), -np.ones(n_out)], -1)]).astype(int)
        return rows, np.vstack([g, -g]), np.concatenate([hi, -lo])


# ---------------------------------------------------------------- public bounds


def signed_layers_worst(net: Network, failures: Failures, intervals: Intervals | None = None,
                        flat: bool = False) -> SignedLayers:
    """Deviation bounds per layer under the worst failed sets of the given sizes."""
    return signed_layers(net, WorstCase(net, failures), intervals, flat)


def signed_bound(net: Network, failures: Failures, intervals: Intervals | None = None) -> float:
    """Output error bound (max-norm) for any failed sets of at most the given counts.

    Never above the weight-aware bound: where the signed relaxation is looser
    (it can be, e.g. when a deviation interval straddles 0 at every layer),
    the weight-aware bound is returned.
    """
    iv = intervals or network_intervals(net)
    raw = min(signed_layers_worst(net, failures, iv, flat).bound for flat in (False, True))
    return min(raw, weight_aware_bound(net, failures, intervals=iv))


def given_set_signed_layers(net: Network, signals: Sequence[Array | None],
                            eta: Sequence[float] | float = 0.0, capacity: float = 1.0,
                            intervals: Intervals | None = None, flat: bool = False
                            ) -> SignedLayers:
    """Deviation bounds per layer for known failed signals (see `given_set_signed_bound`)."""
    etas = [float(eta)] * len(net.weights) if np.isscalar(eta) else [float(e) for e in eta]
    return signed_layers(net, GivenSet(net, signals, etas, capacity), intervals, flat)


def given_set_signed_bound(net: Network, signals: Sequence[Array | None],
                           eta: Sequence[float] | float = 0.0, capacity: float = 1.0,
                           intervals: Intervals | None = None) -> float:
    """Output error bound (max-norm) for known failed signals.

    signals[l-1]: int array (N_l, N_{l-1}) of CORRECT, MISSING, CORRUPTED (or
    None, all correct), as for `given_set_layers`. Never above the given-set
    weight-aware bound, nor above `signed_bound` for counts that hold the set.
    """
    iv = intervals or network_intervals(net)
    etas = [float(eta)] * len(net.weights) if np.isscalar(eta) else [float(e) for e in eta]
    raw = min(given_set_signed_layers(net, signals, etas, capacity, iv, flat).bound
              for flat in (False, True))
    return min(raw, given_set_bound(net, signals, etas, capacity, intervals=iv))
