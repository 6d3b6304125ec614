"""The sigmoid/tanh enclosure of the worst-case program: its lines hold on dense grids, its
safe LP bound is below the solver's optimum, and the program's bound is above the worst
case found by brute force over every failed set and a dense input grid."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import LinearConstraint, linprog

from neurosim.attack.cuts import cone_cut, monotone_cuts, slope_range
from neurosim.attack.enclosure import envelopes, safe_min, violation
from neurosim.attack.milp import _Program, worst_case_milp
from neurosim.attack.search import search
from neurosim.data.activations import get_activation
from neurosim.data.network import random_network
from tests.test_attack import brute_force, model_of

INTERVALS = [(-3.0, 2.0), (-0.5, 0.5), (0.1, 6.0), (-8.0, -0.2), (-40.0, 35.0), (1e-3, 2e-3),
             (-1e-9, 1e-9), (-2.0, 2.0), (0.0, 3.0), (-3.0, 0.0), (4.0, 4.0)]


def _random_intervals(rng, n=40):
    out = []
    for _ in range(n):
        a, b = np.sort(rng.normal(0.0, rng.choice([0.3, 2.0, 10.0]), 2))
        out.append((float(a), float(b)))
    return out


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_envelopes_enclose_phi_on_a_dense_grid(name):
    phi = get_activation(name)
    for a, b in INTERVALS + _random_intervals(np.random.default_rng(1)):
        lower, upper = envelopes(name, a, b)
        s = np.concatenate([np.linspace(a, b, 20001), [a, b, float(np.clip(0.0, a, b))]])
        y = phi(s)  # the engine's float64 phi: the lines must hold for it, no tolerance
        lo = np.max([m * s + c for m, c in lower], axis=0)
        hi = np.min([m * s + c for m, c in upper], axis=0)
        assert np.all(lo <= y) and np.all(y <= hi), (a, b)
        # Not vacuous: within a small part of phi's range of the convex hull of phi's graph
        # (the tightest any set of lines can be).
        g = np.linspace(a, b, 2001)
        width = _hull(g, phi(g), -1.0) - _hull(g, phi(g), 1.0)
        excess = np.interp(s, g, width) - (hi - lo)
        assert np.max(-excess) <= 0.1 * (phi(np.array([b]))[0] - phi(np.array([a]))[0]) + 1e-9


def _hull(x, y, sense):
    """The lower (sense 1) or upper (sense -1) convex hull of the points, at x."""
    keep = []
    for i in range(len(x)):
        while len(keep) >= 2:
            j, k = keep[-2], keep[-1]
            cross = (x[k] - x[j]) * (y[i] - y[j]) - (y[k] - y[j]) * (x[i] - x[j])
            if sense * cross <= 0:
                keep.pop()
            else:
                break
        keep.append(i)
    return np.interp(x, x[keep], y[keep])


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_violation_is_the_maximum_over_the_interval(name):
    phi = get_activation(name)
    rng = np.random.default_rng(2)
    for a, b in _random_intervals(rng, 60):
        m, c = rng.uniform(-0.1, 1.1 if name == "tanh" else 0.3), rng.normal(0.0, 0.5)
        s = np.linspace(a, b, 100001)
        grid = float(np.max(phi(s) - (m * s + c)))
        v = violation(name, m, c, a, b)
        assert v >= grid
        # The maximum is attained near a grid point: the closed form is not loose either.
        assert v <= grid + 1e-6


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "hard_sigmoid", "identity"])
def test_the_mean_value_cuts_hold_for_every_pair(name):
    """Every (s, s') in [lo, hi] with |s' - s| <= D satisfies the cone cut, and the signed
    cuts where the sign of s' - s is the one they assume; phi' lies in the slope range."""
    phi = get_activation(name)
    rng = np.random.default_rng(3)
    for lo, hi in _random_intervals(rng, 30):
        D = rng.uniform(0.0, hi - lo + 0.1)
        s = rng.uniform(lo, hi, 20000)
        sf = np.clip(s + rng.uniform(-D, D, s.size), lo, hi)
        values = {0: s, 1: sf, 2: phi(s), 3: phi(sf), 4: np.zeros_like(s)}
        # cone_cut, then monotone_cuts with binary 4 (off) guarding the d < 0 side only.
        p = _Program()
        for _ in range(5):
            p.var(-np.inf, np.inf)
        y, yf, d = ({2: 1.0}, 0.0), ({3: 1.0}, 0.0), ({1: 1.0, 0: -1.0}, 0.0)
        cone_cut(p, name, y, yf, d, lo, hi, D)
        monotone_cuts(p, name, y, yf, d, [4], [], lo, hi, D)
        for n, (coef, rlo, rhi) in enumerate(p.rows):
            value = sum(c * values[v] for v, c in coef.items())
            ok = (value >= rlo) & (value <= rhi)
            # rows 1-2 assume d >= 0 (binary 4 off); rows 3-4 assume d <= 0 (nothing on).
            assert np.all(ok[sf >= s] if n in (1, 2) else ok[sf <= s] if n > 2 else ok)
        m_lo, m_hi = slope_range(name, lo, hi)
        q = np.diff(phi(np.linspace(lo, hi, 10001))) / np.diff(np.linspace(lo, hi, 10001))
        assert m_lo <= q.min() + 1e-8 and q.max() <= m_hi + 1e-8  # float quotients


def test_safe_min_is_below_the_optimum_and_close_to_it():
    rng = np.random.default_rng(4)
    for _ in range(20):
        n, m = 12, 18
        A = rng.normal(size=(m, n))
        z0 = rng.uniform(-1, 1, n)
        lo_r = A @ z0 - rng.uniform(0, 1, m)
        hi_r = np.where(rng.random(m) < 0.3, np.inf, A @ z0 + rng.uniform(0, 1, m))
        lo_r[rng.random(m) < 0.2] = -np.inf
        c = rng.normal(size=n)
        box = np.full(n, 2.0)
        low, _ = safe_min(c, LinearConstraint(A, lo_r, hi_r), -box, box)
        ub_rows = np.isfinite(hi_r)
        dn_rows = np.isfinite(lo_r)
        ref = linprog(c, A_ub=np.vstack([A[ub_rows], -A[dn_rows]]),
                      b_ub=np.concatenate([hi_r[ub_rows], -lo_r[dn_rows]]),
                      bounds=[(-2, 2)] * n, method="highs")
        assert low <= ref.fun
        assert low >= ref.fun - 1e-7 * (1 + abs(ref.fun))


@pytest.mark.parametrize("act", ["sigmoid", "tanh"])
@pytest.mark.parametrize("failures", [dict(crash=(1, 1)), dict(crash=(2, 0)),
                                      dict(lost=(0, 1, 1))])
def test_enclosure_bound_is_above_brute_force_and_the_search(act, failures):
    net = random_network([2, 3, 3, 2], act, 1.5, rng=7, input_low=-2.0, input_high=2.0)
    model = model_of(**failures)
    res = worst_case_milp(net, model, time_limit=60.0)
    assert res.enclosure and res.proven
    g = np.linspace(-2.0, 2.0, 151)
    X = np.array(list(itertools.product(g, g)))
    grid = brute_force(net, model, X)
    assert grid <= res.upper
    found = search(net, model, None, seed=0, time_limit=5.0)
    assert found.error <= res.upper
    # An enclosure, not the worst case: but a close one on a net this small.
    assert res.upper <= 1.5 * grid + 1e-3


def test_attack_reports_the_enclosure_bound_as_a_bound_not_exact(tmp_path):
    from neurosim.attack.run import attack
    from neurosim.data.scenario import load_scenario
    from neurosim.setup import prepare
    from tests.test_attack import _scenario

    scn = _scenario(tmp_path, "sigmoid", {"crash": [1, 1]})
    report = attack(prepare(load_scenario(scn)), 10.0)
    assert report["milp_kind"] == "enclosure"
    assert report["worst_error"] <= report["bound_milp"]
    assert report["bound_tightest"] <= report["bound_milp"]
    assert "enclosure" in report["method"] and any("enclosure" in n for n in report["notes"])
    # Exact only if the found error attains a sound bound (never the enclosure's own doing).
    assert report["exact"] == (report["worst_error"] >= report["bound_tightest"] * (1 - 1e-12))


BUNDLED = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.toml"))


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_attack_runs_on_every_bundled_scenario_below_its_bounds(path):
    """Every bundled scenario: a report, what is not searched said in notes, and the found
    error below every sound bound, the MILP's (exact or enclosure) included."""
    from neurosim.attack.run import attack
    from neurosim.data.scenario import load_scenario
    from neurosim.setup import prepare

    report = attack(prepare(load_scenario(path)), 2.0)
    worst = report["worst_error"]
    for key in ("bound_tightest", "bound_signed", "bound_weight_aware", "bound_paper"):
        if report.get(key) is not None:
            assert worst <= report[key] * (1 + 1e-9) + 1e-12, key
    if report.get("bound_milp") is not None:
        # Exact programs hold to HiGHS's relative gap; enclosure bounds with no tolerance.
        tol = 0.0 if report["milp_kind"] == "enclosure" else 1e-6
        assert worst <= report["bound_milp"] * (1 + tol) + 1e-12
    else:
        assert any("MILP" in n for n in report["notes"])
