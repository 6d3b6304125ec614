"""A sound piecewise-linear enclosure of sigmoid and tanh for the worst-case program.

For a neuron whose pre-activation s lies in [a, b], y = phi(s) is replaced
by linear inequalities that every point (s, phi(s)) satisfies:

- lower lines y >= m s + c and upper lines y <= m s + c: tangents at a few
  points of [a, b] and chords between them, each shifted by its largest
  violation over [a, b] so that it is valid there by construction. That
  violation is exact: phi - (m s + c) is smooth, so its maximum over [a, b]
  is at a or b or where phi'(s) = m; phi' is even and decreasing in |s|
  (both activations bend at 0: convex below, concave above), so that
  equation has at most the two roots +-r, given in closed form. On a convex
  piece the tangents need no shift and the chord none either; the shift
  matters only on pieces that straddle 0.
- the faulty copy's y' is tied to the fault-free y by the mean-value cuts
  of `neurosim.attack.cuts` (as for every activation).

Every line is also moved outward by a float64 margin (the engine's phi is off
the real one by a few units of roundoff: `ACTIVATION_ULPS`; the line's own
evaluation rounds too). The program is then a relaxation: its optimum is an
upper bound of the worst error, never attained in general (`exact` stays
false). With the failed sets fixed, no binary is left and the program is a
linear one; `safe_min` turns the solver's dual solution into a bound that
holds whatever the solver's tolerances (weak duality over the variables'
box, evaluated with a rounding margin).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import csr_matrix, vstack

from neurosim.bounds.rounding import ACTIVATION_ULPS, UNIT
from neurosim.data.activations import get_activation

Array = np.ndarray

SMOOTH = ("sigmoid", "tanh")
POINTS = 5  # tangent points per envelope (and chords between consecutive ones)
ABS_SLACK = 1e-12  # absolute widening of every line, beyond its computed margin
# A bound from the solver's dual bound (the program still had binaries) holds to HiGHS's
# primal feasibility tolerance (1e-7 by default): it is inflated by this relative amount.
SOLVER_SLACK = 1e-6
# The program is in real arithmetic; the engine sums each layer in float64 (within about
# n u of sum |w| |u| per neuron, n the fan-in): on the bundled networks that moves an
# output by less than 1e-12 of it. A bound from weak duality is inflated by this much.
ENGINE_SLACK = 1e-9


def derivative(name: str, s: Array) -> Array:
    """phi'(s), elementwise, for sigmoid or tanh."""
    t = np.exp(-np.abs(np.asarray(s, dtype=float)))
    if name == "sigmoid":
        return t / (1.0 + t) ** 2
    t2 = t * t
    return 4.0 * t2 / (1.0 + t2) ** 2


def _critical(name: str, m: float) -> float | None:
    """r >= 0 with phi'(+-r) = m, or None when no such point exists (m out of phi's range)."""
    if name == "sigmoid":
        if not 0.0 < m < 0.25:
            return 0.0 if m == 0.25 else None
        q = np.sqrt(1.0 - 4.0 * m)
        return float(np.log((1.0 + q) / (1.0 - q))) if q < 1.0 else None
    if not 0.0 < m < 1.0:
        return 0.0 if m == 1.0 else None
    q = np.sqrt(1.0 - m)
    return float(np.arctanh(q)) if q < 1.0 else None


def violation(name: str, m: float, c: float, a: float, b: float) -> float:
    """max over s in [a, b] of phi(s) - (m s + c)."""
    return _extremes(name, m, c, a, b)[1]


def _extremes(name: str, m: float, c: float, a: float, b: float) -> tuple[float, float]:
    """min and max over s in [a, b] of phi(s) - (m s + c), from the endpoints and the roots
    of phi' = m (and points a little around the roots, for the error of computing them)."""
    pts = [a, b]
    r = _critical(name, m)
    if r is not None:
        for root in (r, -r):
            pts += [root * (1 + f) for f in (-1e-9, 0.0, 1e-9)]
    s = np.clip(np.array(pts, dtype=float), a, b)
    phi = get_activation(name)
    d = phi(s) - (m * s + c)
    return float(np.min(d)), float(np.max(d))


def _margin(name: str, m: float, c: float, a: float, b: float) -> float:
    """Rounding of phi (its ulps) and of m s + c (a few operations) over [a, b]."""
    size = 1.0 + abs(m) * max(abs(a), abs(b)) + abs(c)
    return ABS_SLACK + (ACTIVATION_ULPS[name] + 8.0) * UNIT * size


def envelopes(name: str, a: float, b: float,
              points: int = POINTS) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Lines (m, c) with m s + c <= phi(s) (lower) and >= phi(s) (upper) for every s in
    [a, b], phi in float64 included."""
    a, b = float(a), float(b)
    phi = get_activation(name)
    t = np.array([a])
    if b > a:
        # Evenly spaced in s and in phi(s): the second puts points where phi bends.
        v = np.linspace(*phi(np.array([a, b])), points)[1:-1]
        with np.errstate(divide="ignore"):
            inv = np.log(v / (1.0 - v)) if name == "sigmoid" else np.arctanh(v)
        t = np.concatenate([np.linspace(a, b, points), inv, _touching(name, a, b)])
        t = np.unique(np.clip(t, a, b))
    ft = phi(t)
    cands = [(float(m), float(f - m * x)) for x, f, m in zip(t, ft, derivative(name, t))]
    for i in range(len(t)):  # chords from each point to the ends and to its neighbour
        for j in {0, len(t) - 1, i + 1}:
            if j < len(t) and j != i:
                m = float((ft[j] - ft[i]) / (t[j] - t[i]))
                cands.append((m, float(ft[i] - m * t[i])))
    lower, upper = [], []
    for m, c in cands:
        down, up_ = _extremes(name, m, c, a, b)      # down <= phi - line <= up_
        eps = _margin(name, m, c, a, b)
        lower.append((m, c + min(down, 0.0) - eps))
        upper.append((m, c + max(up_, 0.0) + eps))
    return _useful(lower, a, b, 1.0), _useful(upper, a, b, -1.0)


def _touching(name: str, a: float, b: float) -> list[float]:
    """Where the tangents through (a, phi(a)) and (b, phi(b)) touch phi on an interval that
    straddles 0: the convex hull's corners (found by bisection; only candidates, the
    lines are checked by `_extremes` anyway)."""
    if not a < 0.0 < b:
        return []
    phi = get_activation(name)
    out = []
    # Tangent at t evaluated at the far end, minus phi there: increasing in t on both
    # sides (phi'' (end - t) > 0), so its root is found by bisection where it changes sign.
    for end, lo, hi in ((a, 0.0, b), (b, a, 0.0)):
        f_end = phi(np.array([end]))[0]
        t = np.array([lo, hi])
        h = phi(t) + derivative(name, t) * (end - t) - f_end
        if not h[0] <= 0.0 <= h[1]:
            continue
        for _ in range(60):
            mid = np.array([0.5 * (lo + hi)])
            if (phi(mid) + derivative(name, mid) * (end - mid) - f_end)[0] >= 0.0:
                hi = float(mid[0])
            else:
                lo = float(mid[0])
        out.append(0.5 * (lo + hi))
    return out


def _useful(lines: list[tuple[float, float]], a: float, b: float,
            sense: float) -> list[tuple[float, float]]:
    """Drop lines dominated at both ends of [a, b] by another (a line is linear in s:
    beaten at both ends means beaten everywhere)."""
    keep = []
    ends = [np.array([m * a + c, m * b + c]) * sense for m, c in lines]
    for i, e in enumerate(ends):
        if not any(j != i and np.all(f >= e) and (np.any(f > e) or j < i)
                   for j, f in enumerate(ends)):
            keep.append(lines[i])
    return keep


def add_phi(p, name: str, s: int, a: float, b: float) -> tuple[int, float, float]:
    """A variable y enclosing phi(s), s in [a, b] (p: a program with var and row). Returns
    (y, its lower and upper bounds)."""
    phi = get_activation(name)
    lo_, hi_ = phi(np.array([a, b], dtype=float))
    eps = _margin(name, 0.0, 1.0, a, b)
    y = p.var(float(lo_) - eps, float(hi_) + eps)
    lower, upper = envelopes(name, a, b)
    for m, c in lower:
        p.row({y: 1.0, s: -m}, lo=c)   # y >= m s + c
    for m, c in upper:
        p.row({y: 1.0, s: -m}, hi=c)   # y <= m s + c
    return y, float(lo_) - eps, float(hi_) + eps


def safe_min(c: Array, A, lo: Array, hi: Array,
             time_limit: float | None = None) -> tuple[float | None, Array | None]:
    """A lower bound on min c @ z over {A.lb <= A z <= A.ub, lo <= z <= hi} that holds in
    exact arithmetic, from the dual solution of HiGHS (None when it does not solve),
    and the solver's point.

    For any row multipliers lam: c z = lam A z + (c - A^T lam) z, and each term is
    bounded below over the rows' ranges and the box. The solver's multipliers make
    it tight; any error in them only loosens it.
    """
    M = csr_matrix(A.A)
    rlo, rhi = np.asarray(A.lb, dtype=float), np.asarray(A.ub, dtype=float)
    eq = rlo == rhi
    up_ = ~eq & np.isfinite(rhi)
    dn = ~eq & np.isfinite(rlo)
    A_ub = vstack([M[up_], -M[dn]]).tocsr()
    b_ub = np.concatenate([rhi[up_], -rlo[dn]])
    has_ub, has_eq = A_ub.shape[0] > 0, bool(eq.any())
    res = linprog(c, A_ub=A_ub if has_ub else None, b_ub=b_ub if has_ub else None,
                  A_eq=M[eq] if has_eq else None, b_eq=rlo[eq] if has_eq else None,
                  bounds=np.column_stack([lo, hi]), method="highs",
                  options={} if time_limit is None else {"time_limit": max(time_limit, 0.1)})
    if res.status != 0:
        return None, None
    # A_ub z <= b_ub: multipliers <= 0 (HiGHS's sign for a minimisation).
    mu = np.minimum(res.ineqlin.marginals, 0.0) if has_ub else np.zeros(0)
    nu = res.eqlin.marginals if has_eq else np.zeros(0)
    lam = np.zeros(len(rlo))
    lam[eq] = nu
    n_up = int(up_.sum())
    lam[up_] += mu[:n_up]
    lam[dn] -= mu[n_up:]
    r = c - M.T @ lam
    # lam_i (A z)_i >= lam_i * (rhi_i if lam_i < 0 else rlo_i); r_j z_j >= over the box.
    with np.errstate(invalid="ignore"):  # 0 * inf where a row has one side only
        row_part = np.where(lam < 0, lam * rhi, lam * rlo)
    row_part = np.where(lam == 0, 0.0, row_part)
    box_part = np.where(r > 0, r * lo, r * hi)
    box_part = np.where(r == 0, 0.0, box_part)
    terms = np.concatenate([row_part, box_part])
    if not np.all(np.isfinite(terms)):
        return None, res.x
    size = np.abs(terms).sum() + np.abs(M.T @ lam).sum() * np.abs(np.concatenate([lo, hi])).max()
    return float(terms.sum() - 64 * UNIT * size - ABS_SLACK), res.x
