"""Floating-point rounding terms: the bounds hold for what the engine computes in float64.

The bounds are derived in real arithmetic; the engine computes every
pre-activation as s = fl(sum_i w_i u_i + b) and every output as fl(phi(s)).
Standard error analysis (Higham, *Accuracy and Stability of Numerical
Algorithms*, ch. 3) gives, whatever the order of summation (pairwise, BLAS,
with or without fused multiply-add):

    |fl(sum_{i=1..n} w_i u_i + b) - (sum w_i u_i + b)| <= gamma_{n+1} (sum |w_i| |u_i| + |b|)
                                                         + (n+1) * TINY

with u = 2^-53 the unit roundoff, gamma_k = k u / (1 - k u), and TINY the
smallest subnormal (products that underflow lose their relative accuracy,
not more than TINY each). An activation evaluated in float64 is off its real
value by at most `kappa` units of roundoff of the value (`ACTIVATION_ULPS`),
plus TINY.

Three uses, each a few lines at the place it applies:

- `summation_error`: the term rho_j added to a receiver's pre-activation
  deviation when its inputs differ (faulty and fault-free runs round
  differently);
- `activation_error`: the same for phi;
- `widen`: outward rounding of interval bounds, so that an interval holds
  the float64 value the engine computes, not only the real one.

Where a neuron's inputs and weights are bit-identical in the faulty and the
fault-free run, both compute the same bits (same code, same order), so no
rounding term is needed there: the terms apply only where a deviation can
be non-zero.
"""

from __future__ import annotations

import numpy as np

Array = np.ndarray

UNIT = 2.0 ** -53  # unit roundoff of float64 (round to nearest)
TINY = 2.0 ** -1074  # smallest positive subnormal

# Error of fl(phi(s)) in units of roundoff u of |phi(s)| (the engine's formulas,
# neurosim.data.activations): relu and identity are exact; hard_sigmoid is
# 0.25 s (exact) + 0.5 (one rounding); sigmoid is exp then an addition and a
# division; tanh is numpy's. Measured against 64-bit-mantissa long doubles on
# 3.2 million points in [-745, 745]: at most 3.0 u (sigmoid) and 1.6 u (tanh).
# Taken as 16 u: a margin of 5x for other machines' exp and tanh.
ACTIVATION_ULPS = {"identity": 0.0, "relu": 0.0, "hard_sigmoid": 2.0, "sigmoid": 16.0,
                   "tanh": 16.0}


def gamma(n: int | Array) -> float | Array:
    """gamma_n = n u / (1 - n u): the relative error bound of n floating-point operations."""
    nu = np.asarray(n, dtype=float) * UNIT
    return nu / (1.0 - nu)


def summation_error(abs_terms: Array, abs_bias: Array | float, n: int) -> Array:
    """Bound on |fl(s) - s| for s = sum of n products plus a bias, per receiver.

    abs_terms: (N_l,) sum_i |w_ji| |u_i| (an upper bound of it); abs_bias:
    |b_j|. Returns (N_l,), rounded up.
    """
    return up((abs_terms + np.abs(abs_bias)) * gamma(n + 2) + (n + 2) * TINY)


def may_overflow(abs_terms: Array, abs_bias: Array | float, n: int, slack: int = 0) -> Array:
    """Whether fl(s), s a sum of n products plus a bias whose magnitudes add up to at most
    abs_terms + |b|, can overflow: to +-inf, or to NaN (inf - inf), which no activation
    maps back into its range. Every product and partial sum of any order of summation is
    within gamma_{n+2} of that total, so a total that stays finite so inflated cannot.
    Elementwise, True where unknown (NaN).

    slack: more operations' worth of inflation, for a bound whose total is computed another
    way than a smaller bound's (`overflow_slack`): each says overflow wherever the smaller
    one does, however the two totals round."""
    with np.errstate(over="ignore", invalid="ignore"):
        return ~np.isfinite(inflate(abs_terms + np.abs(abs_bias), n + slack))


def overflow_slack(n: int) -> int:
    """The slack of `may_overflow` from one bound to the next larger one (given set,
    worst case, paper), for sums of n terms: two totals of n terms, each within
    gamma_{2n+4} of its real value, the smaller real value below the larger."""
    return 4 * n + 16


def activation_error(name: str, abs_value: Array | float) -> Array:
    """Bound on |fl(phi(s)) - phi(s)| where |phi(s)| <= abs_value (elementwise)."""
    kappa = ACTIVATION_ULPS[name]
    if kappa == 0.0:
        return np.zeros(np.shape(abs_value))
    return up(kappa * UNIT * np.asarray(abs_value, dtype=float) + 2 * TINY)


def up(x: Array | float) -> Array:
    """x, one ulp further from 0: an upper bound of the real value a few float ops gave.

    Bounds are sums and products of non-negative floats; each such operation
    rounds to nearest, so a result computed with k operations is within
    gamma_k of the real one. `inflate` covers that; `up` covers one operation.
    """
    return _next(x, True)


# From this many entries on, `_next` runs compiled (`neurosim.bounds.next_float`).
COMPILED_FROM = 512


def _next(x: Array | float, up: bool) -> Array:
    """np.nextafter(x, +inf if up else -inf), bit for bit; large float64 arrays compiled."""
    if isinstance(x, np.ndarray) and x.dtype == np.float64 and x.size >= COMPILED_FROM:
        from neurosim.bounds.next_float import step  # numba: only for blocks of trials

        x = np.ascontiguousarray(x)
        out = np.empty_like(x)
        step(x.reshape(-1), out.reshape(-1), up)
        return out
    return np.nextafter(x, np.inf if up else -np.inf)


def inflate(x: Array | float, n_ops: int) -> Array:
    """Upper bound of the real value of a non-negative quantity computed with n_ops float ops."""
    x = np.asarray(x, dtype=float)
    return up(x * (1.0 + gamma(n_ops + 2)) + (n_ops + 2) * TINY)


def widen(low: Array, high: Array, r: Array | float) -> tuple[Array, Array]:
    """[low - r, high + r], rounded outward."""
    return _next(low - r, False), _next(high + r, True)


def finite_or_inf(x: Array) -> Array:
    """NaN -> +inf: a bound whose arithmetic overflowed (0 * inf, inf - inf) bounds nothing,
    and +inf is the sound statement of that."""
    x = np.asarray(x, dtype=float)
    return np.where(np.isnan(x), np.inf, x)


# Two bounds that are equal in real arithmetic (the paper's Fep and the
# weight-aware bound on a network with equal weights, say) may come out in
# either order after rounding, since each is evaluated in its own order. The
# chain between bounds is checked to within this relative amount: 2^-40, about
# 4,500 units of roundoff, far above the O(n u) evaluation error of a layer.
# A measured error is checked against a bound with no tolerance at all.
CHAIN_RTOL = 2.0 ** -40
# Near the subnormals each operation is off by up to TINY / 2 whatever the size, so two
# bounds equal in real arithmetic and evaluated in different orders differ by a few TINY
# (one corrupted signal of C = TINY: 1.1067e-321 against 1.0968e-321, 2 TINY apart, and
# the run reported a broken chain). Also to within 2^-1064 = 1024 TINY, absolute.
CHAIN_ATOL = 2.0 ** -1064


def bounds_ordered(smaller: float, larger: float) -> bool:
    """smaller <= larger, to within their evaluation rounding; False if either is NaN."""
    return bool(smaller <= larger * (1.0 + CHAIN_RTOL) + CHAIN_ATOL)
