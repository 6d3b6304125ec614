"""The signed bound against brute force: measured <= given set <= worst case <= weight-aware.

Random tiny networks (every activation, weights and biases of both signs,
random input boxes). Each receiver of layer l gets its own failed set of AT
MOST m missing and z corrupted signals from layer l-1; on these sizes every
combination of per-receiver sets is enumerated (or a seeded sample of them
when there are too many). Corrupted values are +-C by the sign of the weight
and of the downstream effect, and random. Inputs: every corner of the box,
random interior points, and points found by projected gradient ascent on the
measured error (finite differences: the networks have at most 3 inputs).

Checked per failed pattern: measured <= given-set signed bound (raw, before
the min with the weight-aware given-set bound, so the relaxation itself is
tested); and per counts: given-set <= worst-case signed (raw, for every
pattern within the counts) <= weight-aware.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import ACTS, PROFILE, ascend, below, downstream_sign, leq, networks

from neurosim.bounds.intervals import interval_bounds
from neurosim.bounds.linear_intervals import linear_intervals
from neurosim.bounds.signed import (
    _relax,
    _relax_flat,
    given_set_signed_bound,
    given_set_signed_layers,
    min_slope,
    signed_bound,
    signed_layers_worst,
)
from neurosim.bounds.weight_aware import (
    CORRECT,
    CORRUPTED,
    MISSING,
    given_set_bound,
    weight_aware_bound,
)
from neurosim.data.activations import ACTIVATIONS
from neurosim.data.counts import Failures
from neurosim.data.network import load_network, make_network

MAX_PATTERNS = 48



# ---------------------------------------------------------------- the faulty forward pass


def run(net, X, kinds=None, values=None, weights=None):
    """Outputs (n, N_out) when receiver j of layer l uses, from sender i: y_i (CORRECT),
    0 (MISSING) or values[l-1][j, i] (CORRUPTED); with the stored weights `weights`."""
    y = np.atleast_2d(np.asarray(X, dtype=float))
    weights = weights or net.weights
    for l in range(1, len(net.weights) + 1):
        W, b = weights[l - 1], net.biases[l - 1]
        U = np.repeat(y[:, None, :], W.shape[0], axis=1)
        if kinds is not None and kinds[l - 1] is not None:
            U[:, kinds[l - 1] == MISSING] = 0.0
            c = kinds[l - 1] == CORRUPTED
            if c.any():
                U[:, c] = values[l - 1][c]
        s = (W * U).sum(axis=-1) + b
        y = net.phis[l - 1](s) if l <= net.depth else s
    return y


def receiver_options(n_send, m, z):
    """Every (missing, corrupted) pair of disjoint sender sets with |M| <= m, |Z| <= z."""
    out = []
    for k in range(min(m, n_send) + 1):
        for M in itertools.combinations(range(n_send), k):
            rest = [i for i in range(n_send) if i not in M]
            for kz in range(min(z, len(rest)) + 1):
                out.extend((M, Z) for Z in itertools.combinations(rest, kz))
    return out


def patterns(net, f, rng, common=False):
    """Signal kinds per receiving layer: every per-receiver choice, or a seeded sample.

    common: every receiver of a layer fails on the same senders (crashed or
    Byzantine neurons).
    """
    per_layer = []
    for l, W in enumerate(net.weights, start=1):
        opts = receiver_options(W.shape[1], f.missing[l - 1], f.corrupted[l - 1])
        per_layer.append([(o,) * W.shape[0] for o in opts] if common else
                         list(itertools.product(opts, repeat=W.shape[0])))
    total = int(np.prod([len(p) for p in per_layer]))
    if total <= MAX_PATTERNS:
        choices = itertools.product(*per_layer)
    else:
        choices = ([p[rng.integers(len(p))] for p in per_layer] for _ in range(MAX_PATTERNS))
    for choice in choices:
        kinds = []
        for W, layer in zip(net.weights, choice):
            k = np.full(W.shape, CORRECT, dtype=np.int8)
            for j, (M, Z) in enumerate(layer):
                k[j, list(M)] = MISSING
                k[j, list(Z)] = CORRUPTED
            kinds.append(k)
        yield kinds


def value_sets(net, rng, C):
    """Candidate corrupted values, each a list over receiving layers of (N_l, N_{l-1})."""
    out = []
    signs = [np.where(W >= 0, 1.0, -1.0) for W in net.weights]
    for s in (1.0, -1.0):
        out.append([s * C * sw for sw in signs])
        out.append([s * C * np.ones_like(sw) for sw in signs])
        for o in range(net.sizes[-1]):
            vs = []
            for l, sw in enumerate(signs, start=1):
                g = downstream_sign(net, l)[o] if l <= net.depth else np.eye(sw.shape[0])[o]
                vs.append(s * C * sw * g[:, None])
            out.append(vs)
    out.append([rng.uniform(-C, C, W.shape) for W in net.weights])
    return out


def weight_sets(net, rng, eta):
    """Stored weights with every weight moved by at most eta_l (sign patterns, random)."""
    if not any(eta):
        return [list(net.weights)]
    Ws = net.weights
    out = [[W + e for W, e in zip(Ws, eta)], [W - e for W, e in zip(Ws, eta)],
           [W + e * rng.choice([-1.0, 1.0], W.shape) for W, e in zip(Ws, eta)]]
    ys = net.layer_outputs((net.input_low + net.input_high) / 2)
    for o in range(net.sizes[-1]):
        for s in (1.0, -1.0):
            pert = []
            for l, (W, e) in enumerate(zip(Ws, eta), start=1):
                g = downstream_sign(net, l)[o] if l <= net.depth else np.eye(W.shape[0])[o]
                sy = np.where(ys[l - 1] >= 0, 1.0, -1.0)
                pert.append(W + e * s * g[:, None] * sy[None, :])
            out.append(pert)
    return out


def inputs(net, rng, n_random=6):
    lo, hi = net.input_low, net.input_high
    corners = np.array(list(itertools.product([0, 1], repeat=len(lo))), dtype=float)
    return np.vstack([lo + corners * (hi - lo), rng.uniform(lo, hi, (n_random, len(lo)))])


def pattern_error(net, kinds, values, weights):
    """The error of one failure pattern at inputs Z, max-norm: Z (n, N_0) -> (n,)."""
    def err(Z):
        return np.abs(run(net, Z, kinds, values, weights) - net.forward(Z)).max(axis=1)
    return err


def check_counts(net, f, rng, common=False, polish=3):
    """Every link of the chain for the counts f over the patterns within them.

    Each pattern is measured at the corners and random points; the `polish`
    patterns that measured worst are then pushed by gradient ascent from their
    two worst inputs and checked again. The intervals: plain interval propagation or
    the linear ones (`linear_intervals`), one of the two per network (seeded).
    """
    linear = bool(rng.integers(2))
    iv = linear_intervals(net) if linear else interval_bounds(net)
    X = inputs(net, rng)
    worst_raws = [signed_layers_worst(net, f, iv, flat).bound for flat in (False, True)]
    worst_raw = min(worst_raws)
    worst = signed_bound(net, f, intervals=iv)
    wa = weight_aware_bound(net, f, intervals=iv)
    info = dict(sizes=net.sizes, acts=net.activations, f=f, worst_raw=worst_raw, wa=wa,
                linear=linear)
    assert below(worst, wa) and below(worst, worst_raw), info
    vsets = value_sets(net, rng, f.capacity) if any(f.corrupted) else [None]
    wsets = weight_sets(net, rng, f.eta)
    seen = []
    for kinds in patterns(net, f, rng, common):
        g_raws = [given_set_signed_layers(net, kinds, f.eta, f.capacity, iv, flat).bound
                  for flat in (False, True)]
        for g_r, w_r in zip(g_raws, worst_raws):  # each variant on its own
            assert below(g_r, w_r), dict(info, kinds=kinds, g_raws=g_raws, worst_raws=worst_raws)
        g_raw = min(g_raws)  # each variant must hold the measured error
        g = given_set_signed_bound(net, kinds, f.eta, f.capacity, intervals=iv)
        g_wa = given_set_bound(net, kinds, f.eta, f.capacity, intervals=iv)
        assert below(g_raw, worst_raw), dict(info, kinds=kinds, g_raw=g_raw)
        assert below(g, worst) and below(g, g_wa), dict(info, kinds=kinds, g=g, g_wa=g_wa)
        for values in vsets:
            for weights in wsets:
                err = pattern_error(net, kinds, values, weights)
                e = err(X)
                assert leq(e.max(), g), dict(info, kinds=kinds, err=e.max(), g=g)
                seen.append((float(e.max()), min(g, g_raw), err, X[np.argsort(e)[-2:]], kinds))
    top = max(s[0] for s in seen)
    seen.sort(key=lambda t: -t[0])
    for _, bound, err, starts, kinds in seen[:polish]:
        for x0 in starts:
            e = ascend(net, err, x0, steps=25, step=0.1)[1]
            top = max(top, e)
            assert leq(e, bound), dict(info, kinds=kinds, err=e, bound=bound)
    assert leq(top, worst), dict(info, top=top)
    return top, worst, wa


def counts(net, data, missing, corrupted, eta=0.0, C=1.0):
    n_l = len(net.weights)
    m = [data.draw(st.integers(0, min(missing, n)), label=f"m{l}")
         for l, n in enumerate(net.sizes[:-1], start=1)]
    z = [data.draw(st.integers(0, min(corrupted, n - mm)), label=f"z{l}")
         for l, (n, mm) in enumerate(zip(net.sizes[:-1], m), start=1)]
    e = [data.draw(st.sampled_from([0.0, eta]), label=f"eta{l}") for l in range(1, n_l + 1)]
    return Failures(tuple(m), tuple(z), tuple(e), C)


# ---------------------------------------------------------------- the chain, by failure kind


@settings(max_examples=60, **PROFILE)
@given(networks(max_hidden=3), st.data())
def test_crashed_neurons(case, data):
    """Crashed neurons: every receiver misses the same (at most f) senders; all sets."""
    net, rng = case
    m = [0] + [data.draw(st.integers(0, 2), label=f"crash{l}") for l in range(1, net.depth + 1)]
    f = Failures(tuple(m), (0,) * len(m), (0.0,) * len(m), 1.0)
    check_counts(net, f, rng, common=True)


@settings(max_examples=50, **PROFILE)
@given(networks(max_hidden=3), st.data())
def test_byzantine_neurons(case, data):
    net, rng = case
    C = data.draw(st.sampled_from([0.5, 1.0, 4.0]), label="C")
    z = [0] + [data.draw(st.integers(0, 1), label=f"byz{l}") for l in range(1, net.depth + 1)]
    m = [0] + [data.draw(st.integers(0, 1), label=f"crash{l}") for l in range(1, net.depth + 1)]
    f = Failures(tuple(m), tuple(z), (0.0,) * len(m), C)
    check_counts(net, f, rng, common=True)


@settings(max_examples=50, **PROFILE)
@given(networks(max_hidden=2), st.data())
def test_per_receiver_sets(case, data):
    """Synapse crashes and Byzantine synapses: each receiver its own set (at most m, z)."""
    net, rng = case
    f = counts(net, data, missing=2, corrupted=1,
               C=data.draw(st.sampled_from([0.5, 2.0]), label="C"))
    check_counts(net, f, rng)


@settings(max_examples=50, **PROFILE)
@given(networks(max_hidden=3), st.data())
def test_precision(case, data):
    net, rng = case
    eta = data.draw(st.sampled_from([0.01, 0.1, 0.5]), label="eta")
    n_l = len(net.weights)
    f = Failures((0,) * n_l, (0,) * n_l, tuple([eta] * n_l), 1.0)
    check_counts(net, f, rng)


@settings(max_examples=40, **PROFILE)
@given(networks(max_hidden=2), st.data())
def test_mixed(case, data):
    net, rng = case
    f = counts(net, data, missing=1, corrupted=1, eta=data.draw(
        st.sampled_from([0.01, 0.2]), label="eta"), C=1.0)
    check_counts(net, f, rng)


# ---------------------------------------------------------------- the pieces, exactly


@pytest.mark.parametrize("relax", [_relax, _relax_flat])
@pytest.mark.parametrize("name", ACTS)
def test_relaxation_lines_hold(name, relax):
    """The lines bound phi(s + D) - phi(s) on a dense grid of s and D (every case of [a, b])."""
    phi = ACTIVATIONS[name]
    rng = np.random.default_rng(3)
    for _ in range(200):
        s_lo = rng.uniform(-6, 4)
        s_hi = s_lo + rng.uniform(0, 5)
        a = rng.uniform(-5, 3)
        b = a + rng.uniform(0, 5)
        if rng.random() < 0.2:  # an end point at 0
            a, b = (0.0, abs(b)) if rng.random() < 0.5 else (-abs(b), 0.0)
        rx = relax(phi, np.array([s_lo]), np.array([s_hi]), np.array([a]), np.array([b]))
        S, D = np.meshgrid(np.linspace(s_lo, s_hi, 61), np.linspace(a, b, 61))
        d = phi(S + D) - phi(S)
        assert np.all(d <= rx.up_slope[0] * D + rx.up_off[0] + 1e-12), (s_lo, s_hi, a, b)
        assert np.all(d >= rx.lo_slope[0] * D + rx.lo_off[0] - 1e-12), (s_lo, s_hi, a, b)


@pytest.mark.parametrize("name", ACTS)
def test_min_slope(name):
    """min_slope is at most every difference quotient of phi inside [a, b]."""
    phi = ACTIVATIONS[name]
    rng = np.random.default_rng(4)
    for _ in range(300):
        a = rng.uniform(-6, 6)
        b = a + rng.uniform(0, 6)
        u = np.sort(rng.uniform(a, b, 2))
        if u[1] - u[0] < 1e-6:
            continue
        q = (phi(u[1:]) - phi(u[:1]))[0] / (u[1] - u[0])
        assert min_slope(phi, np.array(a), np.array(b)) <= q + 1e-12
        assert q <= phi.slope(np.array(a), np.array(b)) + 1e-12


def test_cancellation_is_exact():
    """x -> h -> (g1 = h, g2 = h) -> out = g1 - g2, identity: out never deviates.

    h misses its only input (a lost synapse): Dh = -x, both paths carry it, the
    output cancels them. The signed bound is 0; the weight-aware bound charges
    both paths: 2 * max|x| = 2.
    """
    net = make_network([np.ones((1, 1)), np.ones((2, 1)), np.array([[1.0, -1.0]])], None,
                       ["identity", "identity"], 0.0, 1.0)
    f = Failures((1, 0, 0), (0, 0, 0), (0.0, 0.0, 0.0), 1.0)
    assert weight_aware_bound(net, f) == pytest.approx(2.0)
    assert signed_bound(net, f) == pytest.approx(0.0, abs=1e-13)  # rounding terms only


def test_crashed_sigmoid_removes_a_positive_value():
    """One sigmoid neuron feeding an output by +w: its crash lowers the output by w*y, y in (0,1).

    Over the box, y = sigma(x) with x in [0, 1]: the worst error is w*sigma(1),
    reached, and the signed bound equals it (a single path, no slack).
    """
    w = 2.5
    net = make_network([np.ones((1, 1)), np.array([[w]])], None, ["sigmoid"], 0.0, 1.0)
    f = Failures((0, 1), (0, 0), (0.0, 0.0), 1.0)
    layers = signed_layers_worst(net, f)
    expected = w / (1.0 + np.exp(-1.0))
    assert layers.dev_low[-1][0] == pytest.approx(-expected, rel=1e-12)
    assert layers.dev_high[-1][0] == pytest.approx(0.0, abs=1e-12)  # never raises it


def test_digits_tighter_than_weight_aware(tmp_path):
    """On the bundled digits net the signed bound is strictly below the weight-aware one."""
    from pathlib import Path

    net = load_network(Path(__file__).resolve().parents[1] / "scenarios/nets/digits.npz")
    iv = interval_bounds(net)
    for crash in ([1, 0], [1, 1], [2, 1]):
        m = (0, *crash)
        f = Failures(m, (0,) * 3, (0.0,) * 3, 1.0)
        raw = signed_layers_worst(net, f, iv).bound
        assert raw < weight_aware_bound(net, f, intervals=iv), crash
