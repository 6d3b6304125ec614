"""The bounds of SPEC 3-4 against hand arithmetic, independent formulas and a measured error.

No expected number here is copied from the code's output: each comes from the
formula of SPEC 3 written out in the test, or from a forward pass.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neurosim.bounds.intervals import interval_bounds, layer_sup
from neurosim.bounds.paper import paper_fep, paper_fep_closed_form
from neurosim.bounds.report import bound_report
from neurosim.bounds.weight_aware import (
    given_set_bound,
    signals_for_crashed,
    weight_aware_bound,
)
from neurosim.data.counts import failure_counts
from neurosim.data.network import make_network, random_network
from neurosim.data.scenario import load_scenario
from neurosim.setup import prepare

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
ACTS = ["sigmoid", "tanh", "relu", "identity", "hard_sigmoid"]
K = {"sigmoid": 0.25, "tanh": 1.0, "relu": 1.0, "identity": 1.0, "hard_sigmoid": 0.25}
SUP = {"sigmoid": 1.0, "tanh": 1.0, "hard_sigmoid": 1.0}  # sup|phi| of bounded activations


def crashed_forward(net, x, crashed):
    """Plain forward pass of one input with the neurons crashed[l-1] of layer l output 0."""
    y = np.asarray(x, dtype=float)
    for l, (W, b) in enumerate(zip(net.weights, net.biases), start=1):
        s = W @ y + b
        if l <= net.depth:
            y = net.phis[l - 1](s)
            y[list(crashed[l - 1])] = 0.0
        else:
            y = s
    return y


def rel_close(a, b, tol=1e-9):
    return abs(a - b) <= tol * max(abs(a), abs(b), 1e-300)


# ---------------------------------------------------------------- (a) tightness


def test_tightness_scenario():
    """SPEC 3: identity, all weights +w_m, top corner, worst crashes: measured error == Fep."""
    setup = prepare(load_scenario(SCENARIOS / "tightness.toml"))
    net, x = setup.net, setup.inputs[0]
    assert set(net.activations) == {"identity"}
    np.testing.assert_array_equal(x, net.input_high)
    crash = list(setup.failures.missing[1:])  # signals missed from hidden layers 1..L
    assert crash == [2, 3, 1]
    # The worst set: the neurons of largest value at the corner (all equal here).
    ys = net.layer_outputs(x)
    crashed = [np.argsort(-ys[l], kind="stable")[: crash[l - 1]] for l in range(1, net.depth + 1)]
    measured = float(np.max(np.abs(crashed_forward(net, x, crashed) - net.forward(x))))
    fep = paper_fep(net, setup.failures).fep
    assert measured / fep == pytest.approx(1.0, abs=1e-9)
    # Hand value: y1 = 6*0.5 = 3, y2 = 8*3*0.5 = 12, y3 = 7*12*0.5 = 42, F = 5*42*0.5 = 105;
    # crashed: 6*3*0.5 = 9, 4*9*0.5 = 18, 4*18*0.5 = 36: error 105 - 36 = 69.
    assert measured == pytest.approx(69.0, rel=1e-12)
    # The weight-aware bounds are attained too, and so is the given-set one.
    iv = interval_bounds(net)
    for local in (False, True):
        assert rel_close(weight_aware_bound(net, setup.failures, local=local, intervals=iv),
                         measured)
        assert rel_close(given_set_bound(net, signals_for_crashed(net, crashed), local=local),
                         measured)


# ---------------------------------------------------------------- (b) closed form


def test_paper_recursion_equals_closed_form():
    rng = np.random.default_rng(2024)
    for _ in range(200):
        L = int(rng.integers(1, 5))
        sizes = [int(rng.integers(1, 7))] + [int(rng.integers(1, 9)) for _ in range(L)] \
            + [int(rng.integers(1, 4))]
        acts = [str(a) for a in rng.choice(ACTS, L)]
        lo = rng.uniform(-2, 1)
        net = random_network(sizes, acts, float(rng.uniform(0.1, 3)), rng, lo,
                             lo + rng.uniform(0.1, 3))
        crash, byz = [], []
        for n in sizes[1:-1]:
            c = int(rng.integers(0, n + 1))
            crash.append(c)
            byz.append(int(rng.integers(0, n - c + 1)))
        if rng.random() < 0.3:
            byz = [0] * L
        C = float(rng.uniform(0, 5))
        fep = paper_fep(net, failure_counts(net, crash, byz, capacity=C)).fep_exact_f
        closed = paper_fep_closed_form(net, crash, byz, C)
        assert rel_close(fep, closed, 1e-12), (sizes, acts, crash, byz, fep, closed)


# ---------------------------------------------------------------- (c) by hand


def tiny_sigmoid():
    """2-2-2-1, sigmoid: K = 1/4, B_1 = B_2 = 1; w_m = 1, 2, 3."""
    return make_network(
        [[[0.5, -1.0], [0.25, 0.75]], [[2.0, -0.5], [1.0, 1.5]], [[-3.0, 1.0]]],
        [[0.1, -0.2], [0.0, 0.3], [0.5]], "sigmoid")


def tiny_relu():
    """2-2-2-1, relu on [0, 1]^2, B from interval propagation (worked out below)."""
    return make_network(
        [[[1.0, 2.0], [-1.0, 0.5]], [[1.0, -1.0], [0.5, 2.0]], [[1.0, -4.0]]],
        [[0.0, 1.0], [0.0, 0.0], [0.0]], "relu")


def test_hand_closed_form_sigmoid():
    net = tiny_sigmoid()
    # Fep = sum_l f_l D_l w_m^(3) prod_{l' > l} K (N_l' - f_l') w_m^(l'), L = 2, f = [1, 1]:
    #   l = 1: 1 * B_1 * 3 * [1/4 * (2 - 1) * 2] = 1 * 1 * 3 * 0.5 = 1.5
    #   l = 2: 1 * B_2 * 3                       = 3
    expected = 1 * 1.0 * 3.0 * (0.25 * (2 - 1) * 2.0) + 1 * 1.0 * 3.0
    assert expected == 4.5
    assert paper_fep(net, failure_counts(net, crash=[1, 1])).fep == pytest.approx(4.5, rel=1e-12)
    # Byzantine neuron in layer 1 (D_1 = C + B_1 = 2 + 1), crash in layer 2, C = 2:
    #   l = 1: 1 * 3 * 3 * [1/4 * (2 - 1) * 2] = 4.5;  l = 2: 1 * 1 * 3 = 3
    expected = 1 * (2.0 + 1.0) * 3.0 * (0.25 * 1 * 2.0) + 1 * 1.0 * 3.0
    f = failure_counts(net, crash=[0, 1], byzantine=[1, 0], capacity=2.0)
    assert paper_fep(net, f).fep_exact_f == pytest.approx(expected, rel=1e-12)
    assert expected == 7.5
    # At most these counts: delta_2 = 1/4 * (2 * 0 + 1 * (2 * 3)) = 1.5 > B_2 = 1, so a
    # correct layer-2 signal (3 * 1.5 = 4.5 at the output) can do more harm than a missing
    # one (3 * 1 = 3): with no crash in layer 2 the bound is 2 * 4.5 = 9 > 7.5.
    assert paper_fep(net, f).fep == pytest.approx(9.0, rel=1e-12)


def test_hand_closed_form_relu():
    net = tiny_relu()
    # Interval propagation on [0, 1]^2:
    #   s_1 = x1 + 2 x2 in [0, 3];  s_2 = -x1 + 0.5 x2 + 1 in [0, 1.5]     -> B_1 = 3
    #   s_1 = y1 - y2 in [-1.5, 3]; s_2 = 0.5 y1 + 2 y2 in [0, 1.5 + 3]   -> B_2 = 4.5
    assert layer_sup(net) == pytest.approx([1.0, 3.0, 4.5])
    # f = [1, 1], K = 1, w_m = 2, 2, 4:
    #   l = 1: 1 * 3 * 4 * [1 * (2 - 1) * 2] = 24;  l = 2: 1 * 4.5 * 4 = 18
    expected = 1 * 3.0 * 4.0 * (1.0 * (2 - 1) * 2.0) + 1 * 4.5 * 4.0
    assert expected == 42.0
    f = failure_counts(net, crash=[1, 1])
    assert paper_fep(net, f).fep_exact_f == pytest.approx(42.0, rel=1e-12)
    # At most: delta_2 = 1 * (1 * 2 * 3) = 6 > B_2 = 4.5, so keeping the layer-2 neuron
    # (4 * 6 = 24) is worse than crashing it (4 * 4.5 = 18): 2 * 24 = 48.
    assert paper_fep(net, f).fep == pytest.approx(48.0, rel=1e-12)
    # Only layer 2: 1 * 4.5 * 4 = 18; only layer 1, two crashes: 2 * 3 * 4 * (1 * 2 * 2) = 96.
    assert paper_fep(net, failure_counts(net, crash=[0, 1])).fep == pytest.approx(18.0)
    assert paper_fep(net, failure_counts(net, crash=[2, 0])).fep == pytest.approx(96.0)


# ---------------------------------------------------------------- (d) contributions


def test_contributions_sum_to_fep():
    rng = np.random.default_rng(7)
    for _ in range(100):
        L = int(rng.integers(1, 4))
        sizes = [int(rng.integers(1, 6))] + [int(rng.integers(2, 8)) for _ in range(L)] + [2]
        net = random_network(sizes, [str(a) for a in rng.choice(ACTS, L)], 1.0, rng)
        crash = [int(rng.integers(0, n // 2 + 1)) for n in sizes[1:-1]]
        byz = [int(rng.integers(0, n - c + 1)) // 2 for n, c in zip(sizes[1:-1], crash)]
        scrash = [int(rng.integers(0, n // 4 + 1)) for n in sizes[:-1]]
        eta = [float(rng.choice([0.0, rng.uniform(0, 0.1)])) for _ in sizes[1:]]
        f = failure_counts(net, crash, byz, scrash, 0, eta, capacity=float(rng.uniform(0, 3)))
        p = paper_fep(net, f)
        assert len(p.contribution) == L + 1
        assert rel_close(sum(p.contribution), p.fep_exact_f, 1e-12)
        assert p.fep >= p.fep_exact_f
        assert all(c >= 0 for c in p.contribution)


def test_contributions_are_closed_form_terms():
    """Crash-only: the part of layer l's crashes is SPEC 3's l-th term, computed here."""
    rng = np.random.default_rng(8)
    for _ in range(50):
        L = int(rng.integers(1, 4))
        sizes = [3] + [int(rng.integers(2, 7)) for _ in range(L)] + [1]
        acts = [str(a) for a in rng.choice(ACTS, L)]
        net = random_network(sizes, acts, 1.5, rng)
        crash = [int(rng.integers(0, n + 1)) for n in sizes[1:-1]]
        p = paper_fep(net, failure_counts(net, crash))
        B = layer_sup(net)
        wm = [np.abs(W).max() for W in net.weights]
        assert p.contribution[0] == 0.0  # inputs do not fail
        for l in range(1, L + 1):
            term = crash[l - 1] * B[l] * wm[L]
            for lp in range(l + 1, L + 1):
                term *= K[acts[lp - 1]] * (sizes[lp] - crash[lp - 1]) * wm[lp - 1]
            assert rel_close(p.contribution[l], term, 1e-12) or abs(term) < 1e-300


# ---------------------------------------------------------------- (e) precision


def hand_precision_bound(net, eta):
    """SPEC 3's precision recursion, with B_l from an interval propagation written here."""
    lo, hi = net.input_low.copy(), net.input_high.copy()
    B = [float(np.maximum(np.abs(lo), np.abs(hi)).max())]
    for l, (W, b) in enumerate(zip(net.weights[:-1], net.biases[:-1]), start=1):
        act = net.activations[l - 1]
        c, r = (W @ ((lo + hi) / 2) + b), np.abs(W) @ ((hi - lo) / 2)
        phi = net.phis[l - 1]
        lo, hi = phi(c - r), phi(c + r)
        B.append(SUP[act] if act in SUP else float(np.maximum(np.abs(lo), np.abs(hi)).max()))
    sizes, L = net.sizes, net.depth
    delta = 0.0
    for l in range(1, L + 1):
        wm = np.abs(net.weights[l - 1]).max()
        delta = K[net.activations[l - 1]] * sizes[l - 1] * (
            eta[l - 1] * B[l - 1] + (wm + eta[l - 1]) * delta)
    wm = np.abs(net.weights[L]).max()
    return sizes[L] * (eta[L] * B[L] + (wm + eta[L]) * delta)


def test_precision_by_hand_tiny():
    net = tiny_relu()
    # eta = 0.1 everywhere; B_0 = 1, B_1 = 3, B_2 = 4.5; w_m = 2, 2, 4; K = 1:
    #   delta_1 = 2 * (0.1 * 1 + 2.1 * 0)    = 0.2
    #   delta_2 = 2 * (0.1 * 3 + 2.1 * 0.2)  = 1.44
    #   Err     = 2 * (0.1 * 4.5 + 4.1 * 1.44) = 12.708
    d1 = 2 * (0.1 * 1 + 2.1 * 0)
    d2 = 2 * (0.1 * 3 + 2.1 * d1)
    expected = 2 * (0.1 * 4.5 + 4.1 * d2)
    assert expected == pytest.approx(12.708, rel=1e-12)
    got = paper_fep(net, failure_counts(net, precision=0.1)).fep
    assert got == pytest.approx(expected, rel=1e-12)


def test_precision_recursion_random():
    rng = np.random.default_rng(99)
    for _ in range(100):
        L = int(rng.integers(1, 4))
        sizes = [int(rng.integers(1, 6))] + [int(rng.integers(1, 8)) for _ in range(L)] \
            + [int(rng.integers(1, 3))]
        lo = float(rng.uniform(-1, 1))
        net = random_network(sizes, [str(a) for a in rng.choice(ACTS, L)],
                             float(rng.uniform(0.2, 2)), rng, lo, lo + float(rng.uniform(0.1, 2)))
        eta = [float(rng.uniform(0, 0.2)) for _ in range(L + 1)]
        got = paper_fep(net, failure_counts(net, precision=eta)).fep
        assert rel_close(got, hand_precision_bound(net, eta), 1e-10)


# ---------------------------------------------------------------- (f) epsilon


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu"])
def test_epsilon_test(act):
    net = random_network([5, 9, 7, 3], act, 0.7, rng=31)
    f = failure_counts(net, crash=[2, 1], byzantine=[0, 1], capacity=0.5)
    paper = paper_fep(net, f).fep
    wa = weight_aware_bound(net, f)
    assert wa < paper
    for eps in (paper * 1.01, paper, paper * 0.99, wa * 1.01, wa, wa * 0.99, 1e-9, 1e9):
        r = bound_report(net, f, eps)
        assert r["tolerated_paper"] == (paper <= eps)
        assert r["tolerated_weight_aware"] == (wa <= eps)
        for key, bound in (("max_crashes_paper", lambda g: paper_fep(net, g).fep),
                           ("max_crashes_weight_aware", lambda g: weight_aware_bound(net, g))):
            counts = r[key]
            assert len(counts) == net.depth
            for l, c in enumerate(counts, start=1):
                # At most the neurons that are not Byzantine can crash.
                cap = net.sizes[l] - [0, 1][l - 1]
                assert 0 <= c <= cap

                def with_layer(k, l=l):
                    # Other layers crash-free, the Byzantine neurons kept, as for the report.
                    crash = [0] * net.depth
                    crash[l - 1] = k
                    return failure_counts(net, crash, [0, 1], capacity=0.5)

                if c > 0:
                    assert bound(with_layer(c)) <= eps
                if c < cap:
                    assert bound(with_layer(c + 1)) > eps
