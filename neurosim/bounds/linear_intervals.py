"""Tighter pre-activation intervals from linear bounds substituted back (docs/bounds.md).

Interval propagation (`interval_bounds`) forgets, after every layer, that all
neurons see the same input. Here, as in CROWN, each activation is enclosed
between two lines over its pre-activation interval, and each neuron's
pre-activation s_j^(l) = W_j y^(l-1) + b_j is bounded by substituting those
lines back, layer by layer, down to the input, where the box is applied to a
linear function of x (so every path sees the same x). The intervals are built
layer by layer (those of layer l use the lines of layers < l, themselves from
the tightened intervals) and intersected with interval propagation from the
tightened layer below, so they are never wider than `interval_bounds`.

Float64: the lines hold for the values the engine computes (fl(phi(s)) at the
engine's rounded s), the engine's rounding of every sum below is carried as a
box (|lambda| rho_k), and the substitution's own rounding is bounded by a
companion magnitude, one vector per layer.

Cost: for every layer l >= 2, 2 N_l rows through the matrices of the layers
below, about 4 N_l sum_{k<l} N_k N_{k-1} flops: 6.7e8 on 784-1000-200-10,
2.3e5 on the 64-32-16-10 digits net. `network_intervals` does it up to
`MAX_FLOPS` and uses plain interval propagation above.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from neurosim.bounds.intervals import (
    Intervals,
    activation_interval,
    affine_interval,
    interval_bounds,
)
from neurosim.bounds.rounding import (
    ACTIVATION_ULPS,
    TINY,
    UNIT,
    activation_error,
    finite_or_inf,
    gamma,
    summation_error,
    up,
)
from neurosim.data.activations import Activation
from neurosim.data.network import Network

Array = np.ndarray
Lines = tuple[Array, Array, Array, Array]  # up_slope, up_off, lo_slope, lo_off

# Linear intervals by default while they cost at most this many flops (`linear_flops`).
MAX_FLOPS = 1e8
# Relative error of a computed slope phi'(t) (t / (1 + t)^2 and the like: exp, one
# addition, a square, a division): a few units of roundoff; taken as 16.
SLOPE_ULPS = 16.0
BISECTIONS = 30
# Error of an S-shaped phi in float64, in units of roundoff (the largest of them).
PHI_ULPS = max(ACTIVATION_ULPS.values())


def linear_flops(net: Network) -> float:
    """Flops of `linear_intervals` on `net` (its matrix products)."""
    n = net.sizes
    return float(sum(4 * n[l] * sum(n[k] * n[k - 1] for k in range(1, l))
                     for l in range(2, len(n))))


def network_intervals(net: Network, linear: bool | None = None) -> Intervals:
    """The intervals the bounds use: linear (tighter) when `linear`, plain interval
    propagation when not; None: linear when they cost at most MAX_FLOPS."""
    if linear is None:
        linear = linear_flops(net) <= MAX_FLOPS
    return linear_intervals(net) if linear else interval_bounds(net)


def linear_intervals(net: Network) -> Intervals:
    """Per-layer intervals from linear bounds substituted back, each within the plain one."""
    lo, hi = net.input_low.astype(float), net.input_high.astype(float)
    pre_low, pre_high, low, high = [lo], [hi], [lo], [hi]
    lines: list[Lines] = []
    rho: list[Array] = []
    # size[k]: per neuron of layer k, the magnitudes a row's coefficient on y^(k) multiplies
    # down to the input (the companion that bounds the substitution's own rounding).
    size = [np.maximum(np.abs(lo), np.abs(hi))]
    for l in range(1, net.depth + 2):
        W, b = net.weights[l - 1], net.biases[l - 1]
        A = np.abs(W)
        # The engine's rounding of layer l's sums: |fl(s_j) - s_j| <= rho_j.
        with np.errstate(invalid="ignore", over="ignore"):
            rho.append(summation_error(A @ np.maximum(np.abs(lo), np.abs(hi)), b, W.shape[1]))
        slo, shi = affine_interval(net, l, lo, hi)
        if l >= 2:
            a_lo, a_hi = _substitute_to_input(net, l, pre_low, pre_high, lines, rho, size)
            slo, shi = np.maximum(slo, a_lo), np.minimum(shi, a_hi)
        lo, hi = activation_interval(net, l, slo, shi)
        pre_low.append(slo)
        pre_high.append(shi)
        low.append(lo)
        high.append(hi)
        if l <= net.depth:
            lines.append(activation_lines(net.phis[l - 1], slo, shi))
            up_slope, up_off, lo_slope, lo_off = lines[-1]
            s_abs = np.maximum(np.abs(slo), np.abs(shi))
            with np.errstate(invalid="ignore", over="ignore"):
                size.append(np.abs(up_off) + np.abs(lo_off) + np.maximum(np.abs(lo), np.abs(hi))
                            + np.maximum(np.abs(up_slope), np.abs(lo_slope))
                            * (np.abs(b) + rho[-1] + s_abs + A @ size[-1]))
    return Intervals(pre_low, pre_high, low, high)


def _substitute_to_input(net: Network, l: int, pre_low: list[Array], pre_high: list[Array],
                         lines: list[Lines], rho: list[Array], size: list[Array]
                         ) -> tuple[Array, Array]:
    """(low, high) of layer l's pre-activations: the rows +W_j and -W_j substituted back.

    For rows g on y^(k) (the float values layer k outputs), with y^(k) between the lines
    of s^(k): g.y <= lam.s^(k) + g+.up_off + g-.lo_off, lam = g+ up_slope + g- lo_slope;
    and lam.s^(k) = (lam W^(k)).y^(k-1) + lam.b^(k) + lam.delta, |delta| <= rho_k (the
    engine's rounding). At the input, g.x <= g+.x_high + g-.x_low.

    Float64: every term of a row is at most |W_j| size[l-1] in magnitude (|lam| <= |g|
    times the larger slope), so gamma_n times that bounds the rounding of the whole
    substitution (n: the longest chain of operations, at most the sum of the sizes).
    """
    n = net.sizes[l]
    W, b = net.weights[l - 1], net.biases[l - 1]
    g = np.vstack([W, -W])
    const = np.concatenate([b, -b]) + np.concatenate([rho[l - 1], rho[l - 1]])
    # Underflow: a product whose value is subnormal is off by up to TINY / 2 whatever its
    # size, which gamma_n times the magnitudes does not bound (a coefficient 1e-311 on an
    # input of 1e3 missed the engine's value by 430 TINY). `under`: per row, what such
    # errors add to const so far; `off`: per row, a bound on every coefficient's error.
    under = np.zeros(2 * n)
    off = np.zeros(2 * n)
    with np.errstate(invalid="ignore", over="ignore"):
        for k in range(l - 1, 0, -1):
            up_slope, up_off, lo_slope, lo_off = lines[k - 1]
            gp, gn = np.maximum(g, 0.0), np.minimum(g, 0.0)
            const += gp @ up_off + gn @ lo_off
            offsets = np.maximum(np.abs(up_off), np.abs(lo_off))
            lam = gp * up_slope + gn * lo_slope
            const += lam @ net.biases[k - 1] + np.abs(lam) @ rho[k - 1]
            slope = np.maximum(np.abs(up_slope), np.abs(lo_slope))
            # off -> the error of lam, then of g = lam W (one product per term each)
            n_k = len(up_off)
            under += off * offsets.sum() + 3 * n_k * TINY
            off = off * slope.max(initial=0.0) + TINY
            under += off * (np.abs(net.biases[k - 1]) + rho[k - 1]).sum()
            off = off * np.abs(net.weights[k - 1]).sum(axis=0).max(initial=0.0) \
                + net.sizes[k - 1] * TINY
            g = lam @ net.weights[k - 1]
        x_lo, x_hi = pre_low[0], pre_high[0]
        const += np.maximum(g, 0.0) @ x_hi + np.minimum(g, 0.0) @ x_lo
        under += off * np.maximum(np.abs(x_lo), np.abs(x_hi)).sum() + len(x_lo) * TINY
        mag = np.abs(b) + rho[l - 1] + np.abs(W) @ size[l - 1]
        err = gamma(sum(net.sizes) + 16) * (np.concatenate([mag, mag]) + under) + under
        bound = up(const + up(err))
    return -finite_or_inf(bound[n:]), finite_or_inf(bound[:n])


# ---------------------------------------------------------------- the activation's lines


def activation_lines(phi: Activation, lo: Array, hi: Array) -> Lines:
    """Lines lo_slope s + lo_off <= fl(phi(s)) <= up_slope s + up_off for s in [lo, hi].

    Elementwise, shapes (N,). Where an end is not finite, constant lines (the interval of
    phi's values): no information passes, nothing is lost against interval propagation.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        if phi.name == "identity":
            one = np.ones_like(lo)
            lines = (one, 0.0 * one, one, 0.0 * one)
        elif phi.name == "relu":
            lines = _relu_lines(lo, hi)
        else:
            # S-shaped (sigmoid, tanh, hard_sigmoid): convex below 0, concave above. The
            # lower line is the upper line of psi(s) = -phi(-s) (same shape) on [-hi, -lo].
            def psi(s):
                return -phi(-s)

            def dpsi(s):
                return phi.slope(-s, -s)

            k_up, c_up = _upper_s_shaped(phi, lambda s: phi.slope(s, s), lo, hi)
            k_lo, c_lo = _upper_s_shaped(psi, dpsi, -hi, -lo)
            lines = (k_up, c_up, k_lo, -c_lo)
        # The engine's phi is off the real one by its activation error.
        size = np.maximum(np.abs(phi(lo)), np.abs(phi(hi)))
        err = activation_error(phi.name, np.where(np.isfinite(size), size, 0.0))
        k_up, c_up, k_lo, c_lo = lines
        c_up, c_lo = up(c_up + err), -up(-c_lo + err)
        flat_hi, flat_lo = _constant_lines(phi, lo, hi)
        finite = np.isfinite(lo) & np.isfinite(hi)
        ok = finite & np.isfinite(c_up) & np.isfinite(c_lo)
    zero = np.zeros_like(lo)
    return (np.where(ok, k_up, zero), np.where(ok, c_up, flat_hi),
            np.where(ok, k_lo, zero), np.where(ok, c_lo, flat_lo))


def _constant_lines(phi: Activation, lo: Array, hi: Array) -> tuple[Array, Array]:
    """phi's float64 values over [lo, hi] as two constants (slope 0): its interval."""
    y_lo, y_hi = phi(lo), phi(hi)
    err = 2 * activation_error(phi.name, np.maximum(np.abs(y_lo), np.abs(y_hi)))
    return (finite_or_inf(np.minimum(up(y_hi + err), phi.high)),
            -finite_or_inf(-np.maximum(-up(-y_lo + err), phi.low)))


def _relu_lines(lo: Array, hi: Array) -> Lines:
    """relu is convex: above, the chord (raised to the gap at the ends, which is where a
    convex function minus a line is largest); below, s or 0, whichever the interval leans
    to (relu(s) >= k s for k in [0, 1], exactly)."""
    cross = (lo < 0.0) & (hi > 0.0)
    width = np.where(cross, hi - lo, 1.0)
    k = np.where(cross, hi / width, np.where(lo >= 0.0, 1.0, 0.0))
    c = np.where(cross, -k * lo, 0.0)
    c = up(c + _end_gap(lambda s: np.maximum(s, 0.0), k, c, lo, hi))
    k_lo = np.where(lo >= 0.0, 1.0, np.where(cross & (hi > -lo), 1.0, 0.0))
    return k, c, k_lo, np.zeros_like(lo)


def _phi_error(value: Array) -> Array:
    """Bound on |fl(f(s)) - f(s)| where the computed value is `value` (any activation)."""
    return up(PHI_ULPS * UNIT * np.abs(value) + 2 * TINY)


def _end_gap(f: Callable[[Array], Array], k: Array, c: Array, a: Array, b: Array) -> Array:
    """max(0, f - (k s + c) at s = a and s = b) for the real f, rounded up: what a line
    must be raised by to lie above f on [a, b] when f minus the line is convex there."""
    gaps = []
    for s in (a, b):
        fs, ks = f(s), k * s
        g = fs - ks - c
        gaps.append(up(g + up(gamma(4) * (np.abs(fs) + np.abs(ks) + np.abs(c))
                              + _phi_error(fs))))
    return np.maximum(np.maximum(gaps[0], gaps[1]), 0.0)


def _upper_s_shaped(f: Callable[[Array], Array], df: Callable[[Array], Array], lo: Array,
                    hi: Array) -> tuple[Array, Array]:
    """A line k s + c above f (monotone, convex on s <= 0, concave on s >= 0) on [lo, hi].

    hi <= 0 (convex): the chord, raised to the gap at the ends. Else the tangent at a
    point t of [max(lo, 0), hi]: f lies below it where f is concave; on the convex part
    [lo, 0], f minus the line is convex, largest at lo or at 0, and at 0 the concave part
    already holds, so raising the line by its gap at lo is enough. t: the midpoint where
    the interval is concave, else the tangent through (lo, f(lo)) (bisection; clipped to
    hi). The computed tangent is off the real one by the slope's error times |s - t| and
    the rounding of f(t) and of its offset: added. A constant line f(hi) is taken where it
    is lower at the middle of the interval.
    """
    convex = hi <= 0.0
    # Tangent point.
    a = np.maximum(lo, 0.0)
    left, right = a.copy(), np.maximum(hi, a)
    f_lo = f(lo)
    for _ in range(BISECTIONS):
        t = 0.5 * (left + right)
        above = f(t) + df(t) * (lo - t) >= f_lo
        right = np.where(above, t, right)
        left = np.where(above, left, t)
    t = np.where(lo >= 0.0, 0.5 * (lo + hi), right)
    t = np.clip(t, a, np.maximum(hi, a))
    k_t = df(t)
    f_t = f(t)
    c_t = f_t - k_t * t
    reach = np.maximum(np.abs(hi - t), np.abs(lo - t))
    c_t = up(c_t + up(SLOPE_ULPS * UNIT * k_t * reach + _phi_error(f_t)
                      + gamma(4) * (np.abs(f_t) + np.abs(k_t * t))))
    c_t = up(c_t + np.where(lo < 0.0, _end_gap(f, k_t, c_t, lo, lo), 0.0))
    # Chord where convex.
    width = np.where(convex & (hi > lo), hi - lo, 1.0)
    f_hi = f(hi)
    k_ch = np.where(convex & (hi > lo), (f_hi - f_lo) / width, 0.0)
    c_ch = f_lo - k_ch * lo
    c_ch = up(c_ch + _end_gap(f, k_ch, c_ch, lo, hi))
    k = np.where(convex, k_ch, k_t)
    c = np.where(convex, c_ch, c_t)
    # A constant line where it is lower in the middle (wide, saturated intervals).
    flat = up(f_hi + _phi_error(f_hi))
    mid = 0.5 * (lo + hi)
    use_flat = ~(k * mid + c < flat)
    return np.where(use_flat, 0.0, k), np.where(use_flat, flat, c)
