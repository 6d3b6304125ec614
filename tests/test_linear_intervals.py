"""Linear (CROWN-style) intervals: they hold what the engine computes, within the plain ones.

Random small networks of every activation (tests/strategies.py): every
pre-activation and output the engine computes in float64, at the corners of
the input box, at random points and at points found by projected gradient
ascent (and descent) on each neuron, lies in its linear interval; each linear
interval lies in the plain interval-propagation one. The activation lines are
checked on dense grids against numpy's phi, with no tolerance.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from strategies import ACTS, PROFILE, networks

from neurosim.bounds.intervals import interval_bounds
from neurosim.bounds.linear_intervals import (
    MAX_FLOPS,
    activation_lines,
    linear_flops,
    linear_intervals,
    network_intervals,
)
from neurosim.data.activations import ACTIVATIONS
from neurosim.data.network import load_network, make_network, preactivation


def engine_values(net, X):
    """Pre-activations and outputs per layer, as the engine sums them: lists of (n, N_l)."""
    y = np.atleast_2d(np.asarray(X, dtype=float))
    pre, out = [y], [y]
    for l, (W, b) in enumerate(zip(net.weights, net.biases), start=1):
        s = preactivation(W, y[:, None, :], b)
        y = net.phis[l - 1](s) if l <= net.depth else s
        pre.append(s)
        out.append(y)
    return pre, out


def ascend(net, f, x0, steps=30):
    """Projected finite-difference ascent of f (inputs (n, N_0) -> (n,)) from x0."""
    lo, hi = net.input_low, net.input_high
    x, best = x0.copy(), f(x0[None])[0]
    step = 0.25 * np.maximum(hi - lo, 1e-9)
    for _ in range(steps):
        h = 1e-6 * np.maximum(hi - lo, 1e-9)
        E = np.eye(len(x)) * h
        g = (f(np.clip(x + E, lo, hi)) - f(np.clip(x - E, lo, hi))) / (2 * h)
        cand = np.clip(x + step * np.sign(g), lo, hi)
        v = f(cand[None])[0]
        if v > best:
            x, best = cand, v
        else:
            step = step / 2
    return x


def inputs(net, rng):
    lo, hi = net.input_low, net.input_high
    corners = np.array(list(itertools.product([0, 1], repeat=len(lo))), dtype=float)
    X = [lo + corners * (hi - lo), rng.uniform(lo, hi, (8, len(lo)))]
    # For every neuron, both ends: push its pre-activation up and down from the best start.
    pre, _ = engine_values(net, X[0])
    for l in range(1, net.depth + 2):
        for j in range(net.sizes[l]):
            for sign in (1.0, -1.0):
                def f(Z, l=l, j=j, sign=sign):
                    return sign * engine_values(net, Z)[0][l][:, j]
                x0 = X[0][np.argmax(sign * pre[l][:, j])]
                X.append(ascend(net, f, x0)[None])
    return np.vstack(X)


@settings(max_examples=80, **PROFILE)
@given(networks(max_hidden=4))
def test_linear_intervals_hold_and_are_within_plain(case):
    net, rng = case
    lin, plain = linear_intervals(net), interval_bounds(net)
    pre, out = engine_values(net, inputs(net, rng))
    for l in range(net.depth + 2):
        info = dict(layer=l, sizes=net.sizes, acts=net.activations)
        assert np.all(lin.pre_low[l] <= pre[l]) and np.all(pre[l] <= lin.pre_high[l]), info
        assert np.all(lin.low[l] <= out[l]) and np.all(out[l] <= lin.high[l]), info
        assert np.all(plain.pre_low[l] <= lin.pre_low[l]), info
        assert np.all(lin.pre_high[l] <= plain.pre_high[l]), info
        assert np.all(plain.low[l] <= lin.low[l]) and np.all(lin.high[l] <= plain.high[l]), info


def test_cancelling_paths_are_seen():
    """x -> (h1 = x, h2 = x) -> s = h1 - h2, identity: s is 0 for every x.

    Interval propagation forgets that h1 and h2 are the same x: [-1, 1] for
    x in [0, 1]. The linear bounds carry x down and see 0 (to rounding terms).
    """
    net = make_network([np.ones((2, 1)), np.array([[1.0, -1.0]])], None, ["identity"], 0.0, 1.0)
    plain, lin = interval_bounds(net), linear_intervals(net)
    assert plain.pre_low[2][0] == pytest.approx(-1.0) and plain.pre_high[2][0] == pytest.approx(1.0)
    assert abs(lin.pre_low[2][0]) < 1e-13 and abs(lin.pre_high[2][0]) < 1e-13


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_two_copies_of_a_curved_neuron(name):
    """x in [-0.5, 0.5] -> (h1 = phi(x), h2 = phi(x)) -> s = h1 - h2, which is 0.

    Plain: [phi(-0.5) - phi(0.5), phi(0.5) - phi(-0.5)] (0.49 wide for sigmoid). The two
    lines around phi on [-0.5, 0.5] are close (phi is nearly linear there), so the linear
    bound is a small fraction of it; not 0, since the lines are not phi.
    """
    net = make_network([np.ones((2, 1)), np.array([[1.0, -1.0]])], None, [name], -0.5, 0.5)
    plain, lin = interval_bounds(net), linear_intervals(net)
    phi = ACTIVATIONS[name]
    width = float(phi(np.array([0.5]))[0] - phi(np.array([-0.5]))[0])
    assert plain.pre_high[2][0] - plain.pre_low[2][0] == pytest.approx(2 * width)
    assert lin.pre_high[2][0] - lin.pre_low[2][0] < 0.2 * width
    assert lin.pre_low[2][0] <= 0.0 <= lin.pre_high[2][0]


@pytest.mark.parametrize("name", ACTS)
def test_activation_lines_hold(name):
    """lo_slope s + lo_off <= phi(s) <= up_slope s + up_off on a dense grid of [lo, hi],
    intervals on either side of 0, across it, narrow, wide and degenerate."""
    phi = ACTIVATIONS[name]
    rng = np.random.default_rng(5)
    lows = np.concatenate([rng.uniform(-12, 8, 300), [-3.0, 0.0, -2.0, 2.0, -1e-3, 5.0]])
    widths = np.concatenate([rng.choice([1e-3, 0.5, 3.0, 25.0], 300), [6.0, 4.0, 4.0, 1.0,
                                                                        2e-3, 0.0]])
    lo, hi = lows, lows + widths
    k_up, c_up, k_lo, c_lo = activation_lines(phi, lo, hi)
    for i in range(len(lo)):
        s = np.linspace(lo[i], hi[i], 2001)
        y = phi(s)
        info = (name, lo[i], hi[i])
        assert np.all(y <= k_up[i] * s + c_up[i]), info
        assert np.all(y >= k_lo[i] * s + c_lo[i]), info


@pytest.mark.parametrize("name", ACTS)
def test_activation_lines_tight_where_phi_is_linear(name):
    """Where phi is linear on [lo, hi] the two lines are phi itself (to rounding)."""
    phi = ACTIVATIONS[name]
    lo, hi = {"sigmoid": (-1e-4, 1e-4), "tanh": (-1e-4, 1e-4), "relu": (0.5, 2.0),
              "identity": (-3.0, 3.0), "hard_sigmoid": (-1.0, 1.5)}[name]
    k_up, c_up, k_lo, c_lo = activation_lines(phi, np.array([lo]), np.array([hi]))
    for s in (lo, hi):
        assert (k_up * s + c_up)[0] - (k_lo * s + c_lo)[0] < 1e-9


def test_network_intervals_choose_by_cost():
    net = load_network(__import__("pathlib").Path(__file__).resolve().parents[1]
                       / "scenarios/nets/digits.npz")
    assert linear_flops(net) < MAX_FLOPS
    iv = network_intervals(net)
    ref = linear_intervals(net)
    assert all(np.array_equal(a, b) for a, b in zip(iv.pre_high, ref.pre_high))
    # 64-32-16-10: 4 (16 (32 64) + 10 (32 64 + 16 32)) flops.
    assert linear_flops(net) == 4 * (16 * 32 * 64 + 10 * (32 * 64 + 16 * 32))


def test_the_engines_rounding_is_held():
    """h = x + 1e16, s = h - 1e16 (identity), x = 3: the engine computes h = 1e16 + 4 (the
    spacing of float64 there is 2) and s = 4, not 3. The linear bound in x alone would
    say [3, 3]; its rounding terms must hold the engine's 4."""
    net = make_network([np.ones((1, 1)), np.ones((1, 1))], [np.array([1e16]), np.array([-1e16])],
                       ["identity"], 3.0, 3.0)
    pre, _ = engine_values(net, np.array([[3.0]]))
    assert pre[2][0, 0] == 4.0  # the case is what it says
    lin = linear_intervals(net)
    assert lin.pre_low[2][0] <= 4.0 <= lin.pre_high[2][0]
    assert lin.pre_high[2][0] - lin.pre_low[2][0] < 50.0  # and the bound still says something
