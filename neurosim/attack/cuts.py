"""Cuts that tie each neuron of the faulty copy to its fault-free twin.

The separate encodings (big-M for piecewise-linear phi, the enclosure for
sigmoid and tanh) say nothing about how y' = phi(s') and y = phi(s) relate;
the program's relaxation then lets them drift apart as far as their own
intervals allow, and the solver has to branch to learn otherwise. But phi is
monotone with a slope in [m_lo, m_hi] on any interval holding s and s', so
y' - y = m (s' - s) for some m in that range (mean value theorem; for relu,
a slope in [0, 1]):

- where the sign of d = s' - s is known, m_lo d <= y' - y <= m_hi d, two
  linear cuts. In the first layer the failures reach (its senders' values
  are the fault-free ones), d_j = -sum over failed senders i of W_ji y_i, so
  d_j >= 0 whenever no failed sender can push it down: the cut is switched on
  by the failure binaries (big-M on them), and with a failed set fixed it is
  exact (`monotone_cuts`);
- elsewhere, over |d| <= D, the chords of the cone:
  |y' - y - (m_hi + m_lo)/2 d| <= (m_hi - m_lo)/2 D (`cone_cut`).

Every true pair (s, phi(s)), (s', phi(s')) satisfies them: they cut only the
relaxation.
"""

from __future__ import annotations

import numpy as np

from neurosim.bounds.rounding import UNIT
from neurosim.data.activations import get_activation

Expr = tuple[dict[int, float], float]  # sum of coefficient * variable, plus a constant


def slope_range(name: str, lo: float, hi: float) -> tuple[float, float]:
    """[m_lo, m_hi] holding phi'(xi) for xi in [lo, hi] (where phi is differentiable; the
    difference quotients of phi on [lo, hi] lie in it too), rounded outward."""
    if name == "identity":
        return 1.0, 1.0
    if name == "relu":
        return (1.0 if lo >= 0 else 0.0), (1.0 if hi > 0 else 0.0)
    if name == "hard_sigmoid":
        inside = lo >= -2.0 and hi <= 2.0
        return (0.25 if inside else 0.0), (0.25 if hi > -2.0 and lo < 2.0 else 0.0)
    from neurosim.attack.enclosure import derivative
    m = derivative(name, np.array([lo, hi, float(np.clip(0.0, lo, hi))]))
    return float(min(m[0], m[1]) * (1 - 1e-9)), float(m[2] * (1 + 1e-9))


def _row(p, parts: list[tuple[float, Expr]], extra: dict[int, float], lo: float,
         hi: float) -> None:
    """Add lo <= sum c * expr + sum extra <= hi."""
    coef, const = dict(extra), 0.0
    for c, (terms, k) in parts:
        const += c * k
        for v, w in terms.items():
            coef[v] = coef.get(v, 0.0) + c * w
    p.row(coef, lo - const, hi - const)


def _margin(size: float) -> float:
    # The engine's phi is a few ulps off the real one (16 at most for sigmoid/tanh), and
    # the cut's own terms round.
    return 1e-12 + 64 * UNIT * size


def monotone_cuts(p, name: str, y: Expr, yf: Expr, d: Expr, neg: list[int], pos: list[int],
                  lo: float, hi: float, D: float) -> None:
    """y' - y between m_lo d and m_hi d when d >= 0 (no binary of `neg` on: the failures
    that could make d negative), and between m_hi d and m_lo d when d <= 0 (none of `pos`
    on). [lo, hi] holds s and s'; |d| <= D."""
    m_lo, m_hi = slope_range(name, lo, hi)
    phi = get_activation(name)
    spread = float(np.diff(phi(np.array([lo, hi], dtype=float)))[0])
    M = (spread + m_hi * D) * (1 + 1e-6) + 1e-9
    eps = _margin(M)
    diff = [(1.0, yf), (-1.0, y)]
    for binaries, (m_up, m_dn) in ((neg, (m_hi, m_lo)), (pos, (m_lo, m_hi))):
        # y' - y - m_up d <= M sum(binaries);  y' - y - m_dn d >= -M sum(binaries)
        _row(p, diff + [(-m_up, d)], {v: -M for v in binaries}, -np.inf, eps)
        _row(p, diff + [(-m_dn, d)], {v: M for v in binaries}, -eps, np.inf)


def cone_cut(p, name: str, y: Expr, yf: Expr, d: Expr, lo: float, hi: float,
             D: float) -> None:
    """|y' - y - (m_hi + m_lo)/2 d| <= (m_hi - m_lo)/2 D over |d| <= D."""
    m_lo, m_hi = slope_range(name, lo, hi)
    mid, half = 0.5 * (m_hi + m_lo), 0.5 * (m_hi - m_lo) * D
    eps = _margin(abs(half) + m_hi * D + 1.0)
    _row(p, [(1.0, yf), (-1.0, y), (-mid, d)], {}, -half - eps, half + eps)
