"""SPEC 4's invariant, property-based: every bound holds against the worst measured error.

    measured  <=  given-set bound  <=  weight-aware (local K)  <=  weight-aware (global K)  <=  Fep

Over random small networks (every activation, weights and biases of both
signs, random input boxes) the measured error is the largest output error
(max-norm) of a forward pass with the failures applied, over the 2^N_0
corners of the input box and random interior points, and for neuron crashes
over EVERY crashed set of the given sizes. Byzantine values are chosen
adversarially (+-C by the sign of the weights downstream) and at random.

Failure counts are exact (README, "Bounds"): a receiver misses exactly
`missing` and gets exactly `corrupted` failed signals, so synapse failures
are drawn on edges from senders that have not failed already.

Hypothesis runs derandomized (a fixed sequence of examples) and draws the
structure; the weights come from a numpy Generator seeded by a drawn integer,
so a failure message names everything that reproduces it.
"""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import PROFILE, below, downstream_sign, leq, networks

from neurosim.bounds.intervals import interval_bounds
from neurosim.bounds.paper import paper_fep
from neurosim.bounds.weight_aware import (
    CORRECT,
    CORRUPTED,
    MISSING,
    given_set_bound,
    signals_for_crashed,
    weight_aware_bound,
)
from neurosim.data.counts import failure_counts
from neurosim.data.network import make_network

# ---------------------------------------------------------------- random networks


def eval_inputs(net, rng, n_random=6):
    """Every corner of the input box plus random interior points, shape (n, N_0)."""
    lo, hi = net.input_low, net.input_high
    corners = np.array(list(itertools.product([0, 1], repeat=len(lo))), dtype=float)
    X = lo + corners * (hi - lo)
    return np.vstack([X, rng.uniform(lo, hi, (n_random, len(lo)))])


# ---------------------------------------------------------------- the faulty forward pass


def run(net, X, missing=None, corrupt=None, weights=None):
    """Forward pass where each receiver uses its own inputs (SPEC 2).

    missing[l-1]: bool (N_l, N_{l-1}), True where receiver j of layer l uses 0
    instead of y_i. corrupt[l-1]: float (N_l, N_{l-1}), NaN where the signal
    is correct, else the value the receiver uses. weights: perturbed W^(l).
    Returns (n, N_{L+1}).
    """
    y = np.asarray(X, dtype=float)
    nL = len(net.weights)
    missing = missing or [None] * nL
    corrupt = corrupt or [None] * nL
    weights = weights or net.weights
    for l in range(1, nL + 1):
        W, b = weights[l - 1], net.biases[l - 1]
        U = np.repeat(y[:, None, :], W.shape[0], axis=1)
        if missing[l - 1] is not None:
            U[:, missing[l - 1]] = 0.0
        if corrupt[l - 1] is not None:
            c = ~np.isnan(corrupt[l - 1])
            U[:, c] = corrupt[l - 1][c]
        s = (W * U).sum(axis=-1) + b
        y = net.phis[l - 1](s) if l <= net.depth else s
    return y


def error(net, X, clean, **faults):
    return float(np.max(np.abs(run(net, X, **faults) - clean)))


def crash_masks(net, crashed):
    """missing masks for crashed[l-1] of hidden layer l: a MISSING column of layer l+1."""
    out = [None]
    for l in range(1, net.depth + 1):
        m = np.zeros((net.sizes[l + 1], net.sizes[l]), dtype=bool)
        m[:, list(crashed[l - 1])] = True
        out.append(m)
    return out


def byzantine_values(net, rng, C, l):
    """Candidate values (N_l, N_{l-1}) that failed senders of layer l-1 send to layer l."""
    W = net.weights[l - 1]
    sw = np.where(W >= 0, 1.0, -1.0)
    cands = [C * sw, -C * sw, C * np.ones_like(W), -C * np.ones_like(W),
             C * rng.choice([-1.0, 1.0], W.shape), rng.uniform(-C, C, W.shape)]
    if l <= net.depth:  # receivers are hidden: push each output one way through them
        for g in downstream_sign(net, l):
            cands += [C * sw * g[:, None], -C * sw * g[:, None]]
    return cands


def check_chain(net, failures, measured, given_local, given_global, ctx):
    """measured <= given (local) <= given (global) and given <= WA local <= WA global <= Fep."""
    iv = interval_bounds(net)
    wa_local = weight_aware_bound(net, failures, local=True, intervals=iv)
    wa_global = weight_aware_bound(net, failures, local=False, intervals=iv)
    fep = paper_fep(net, failures).fep
    info = dict(ctx, sizes=net.sizes, acts=net.activations, measured=measured,
                given_local=given_local, given_global=given_global, wa_local=wa_local,
                wa_global=wa_global, fep=fep, missing=failures.missing,
                corrupted=failures.corrupted, eta=failures.eta)
    assert leq(measured, given_local), info
    assert below(given_local, given_global), info
    assert below(given_local, wa_local), info
    assert below(given_global, wa_global), info
    assert below(wa_local, wa_global), info
    assert below(wa_global, fep), info


def kinds_from(net, missing, corrupt):
    """Signal kinds for given_set_bound from the masks used by `run`."""
    out = []
    for l in range(1, len(net.weights) + 1):
        shape = net.weights[l - 1].shape
        k = np.full(shape, CORRECT, dtype=np.int8)
        if missing[l - 1] is not None:
            k[missing[l - 1]] = MISSING
        if corrupt[l - 1] is not None:
            k[~np.isnan(corrupt[l - 1])] = CORRUPTED
        out.append(k)
    return out


# ---------------------------------------------------------------- crashed neurons


@settings(max_examples=800, **PROFILE)
@given(networks(), st.data())
def test_crash_every_set(case, data):
    net, rng = case
    counts = [data.draw(st.integers(0, n), label=f"crash{l}")
              for l, n in enumerate(net.sizes[1:-1], start=1)]
    X = eval_inputs(net, rng)
    clean = run(net, X)
    np.testing.assert_allclose(clean, net.forward(X), rtol=1e-12, atol=1e-12)
    failures = failure_counts(net, crash=counts)
    iv = interval_bounds(net)
    per_layer = [itertools.combinations(range(n), f) for n, f in zip(net.sizes[1:-1], counts)]
    worst = (-1.0, None)
    for crashed in itertools.product(*per_layer):
        measured = error(net, X, clean, missing=crash_masks(net, crashed))
        sig = signals_for_crashed(net, crashed)
        gl = given_set_bound(net, sig, local=True, intervals=iv)
        gg = given_set_bound(net, sig, local=False, intervals=iv)
        assert leq(measured, gl), (crashed, measured, gl, net.sizes, net.activations)
        assert below(gl, gg), (crashed, gl, gg)
        worst = max(worst, (gl, gg, measured, crashed), key=lambda t: t[0])
    gl, gg, measured, crashed = worst
    check_chain(net, failures, measured, gl, gg, {"crashed": crashed})


@settings(max_examples=150, **PROFILE)
@given(st.lists(st.integers(1, 6), min_size=3, max_size=5), st.data())
def test_crash_tightness(sizes, data):
    """SPEC 3's construction at random sizes: identity, all weights +w, top corner: error == Fep."""
    w = data.draw(st.sampled_from([0.25, 0.5, 1.0, 2.0]), label="w")
    net = make_network([np.full((n, m), w) for m, n in zip(sizes, sizes[1:])], None,
                       "identity", 0.0, 1.0)
    counts = [data.draw(st.integers(0, n), label=f"crash{l}")
              for l, n in enumerate(sizes[1:-1], start=1)]
    crashed = [range(f) for f in counts]
    x = np.ones((1, sizes[0]))
    measured = error(net, x, run(net, x), missing=crash_masks(net, crashed))
    failures = failure_counts(net, crash=counts)
    fep = paper_fep(net, failures).fep
    assert abs(measured - fep) <= 1e-9 * max(fep, 1.0), (sizes, counts, measured, fep)
    for local in (True, False):
        wa = weight_aware_bound(net, failures, local=local)
        assert abs(wa - fep) <= 1e-9 * max(fep, 1.0)


# ---------------------------------------------------------------- Byzantine neurons (and crashes)


def disjoint_sets(n, z, c):
    """Every (Byzantine set of size z, crashed set of size c) of range(n), disjoint."""
    for byz in itertools.combinations(range(n), z):
        rest = [i for i in range(n) if i not in byz]
        for crashed in itertools.combinations(rest, c):
            yield byz, crashed


@settings(max_examples=500, **PROFILE)
@given(networks(), st.data())
def test_byzantine_neurons(case, data):
    net, rng = case
    L = net.depth
    byz_counts, crash_counts = [], []
    for l, n in enumerate(net.sizes[1:-1], start=1):
        z = data.draw(st.integers(0, n), label=f"byz{l}")
        c = data.draw(st.integers(0, n - z), label=f"crash{l}")
        byz_counts.append(z)
        crash_counts.append(c)
    C = data.draw(st.sampled_from([0.0, 0.5, 1.0, 4.0]), label="C")
    X = eval_inputs(net, rng)
    clean = run(net, X)
    failures = failure_counts(net, crash=crash_counts, byzantine=byz_counts, capacity=C)
    iv = interval_bounds(net)
    combos = list(itertools.product(*[list(disjoint_sets(n, z, c)) for n, z, c in
                                      zip(net.sizes[1:-1], byz_counts, crash_counts)]))
    if len(combos) > 40:
        combos = [combos[i] for i in rng.choice(len(combos), 40, replace=False)]
    worst = (-1.0, 0.0, 0.0, None)
    for combo in combos:
        missing, cand_per_layer = [None], [None]
        for l in range(1, L + 1):
            byz, crashed = combo[l - 1]
            m = np.zeros(net.weights[l].shape, dtype=bool)
            m[:, list(crashed)] = True
            missing.append(m)
            cands = []
            for v in byzantine_values(net, rng, C, l + 1):
                cv = np.full(v.shape, np.nan)
                cv[:, list(byz)] = v[:, list(byz)]
                cands.append(cv)
            cand_per_layer.append(cands)
        # Each candidate index applied to every layer at once, plus a few random mixes.
        n_c = min(len(c) for c in cand_per_layer[1:])
        picks = [[k] * L for k in range(n_c)] + [list(rng.integers(0, n_c, L)) for _ in range(4)]
        kinds = None
        for pick in picks:
            corrupt = [None] + [cand_per_layer[l][pick[l - 1]] for l in range(1, L + 1)]
            measured = error(net, X, clean, missing=missing, corrupt=corrupt)
            if kinds is None:
                kinds = kinds_from(net, missing, corrupt)
                gl = given_set_bound(net, kinds, capacity=C, local=True, intervals=iv)
                gg = given_set_bound(net, kinds, capacity=C, local=False, intervals=iv)
            assert leq(measured, gl), (combo, pick, measured, gl, net.sizes, net.activations)
            worst = max(worst, (measured, gl, gg, combo), key=lambda t: t[0])
    measured, gl, gg, combo = worst
    # The chain for the given set that measured worst, and for every set via their bounds.
    check_chain(net, failures, measured, gl, gg, {"combo": combo, "C": C})


# ---------------------------------------------------------------- synapse failures


def draw_synapse_failures(net, rng, scrash, sbyz, failed_neurons=None):
    """Per receiver, exactly scrash[l-1] lost and sbyz[l-1] replaced edges from layer l-1.

    Edges are drawn among senders that have not failed (failed_neurons[l-1]:
    the crashed/Byzantine neurons of layer l-1), so that the counts stay exact.
    Returns missing masks and the Byzantine edges (bool masks).
    """
    miss, byz = [], []
    for l, W in enumerate(net.weights, start=1):
        n_recv, n_send = W.shape
        avoid = set(failed_neurons[l - 1]) if failed_neurons else set()
        free = np.array([i for i in range(n_send) if i not in avoid], dtype=int)
        m = np.zeros(W.shape, dtype=bool)
        b = np.zeros(W.shape, dtype=bool)
        for j in range(n_recv):
            pick = rng.permutation(free)[: scrash[l - 1] + sbyz[l - 1]]
            m[j, pick[: scrash[l - 1]]] = True
            b[j, pick[scrash[l - 1]:]] = True
        miss.append(m)
        byz.append(b)
    return miss, byz


@settings(max_examples=500, **PROFILE)
@given(networks(), st.data())
def test_synapse_failures(case, data):
    net, rng = case
    scrash, sbyz = [], []
    for l, n in enumerate(net.sizes[:-1], start=1):
        g = data.draw(st.integers(0, n), label=f"synapse_crash{l}")
        scrash.append(g)
        sbyz.append(data.draw(st.integers(0, n - g), label=f"synapse_byzantine{l}"))
    C = data.draw(st.sampled_from([0.0, 0.5, 1.0, 4.0]), label="C")
    X = eval_inputs(net, rng)
    clean = run(net, X)
    failures = failure_counts(net, synapse_crash=scrash, synapse_byzantine=sbyz, capacity=C)
    iv = interval_bounds(net)
    worst = (-1.0, 0.0, 0.0, None)
    for draw in range(12):
        missing, byz_edges = draw_synapse_failures(net, rng, scrash, sbyz)
        corrupt_cands = []
        for l in range(1, len(net.weights) + 1):
            layer = []
            for v in byzantine_values(net, rng, C, l):
                cv = np.full(v.shape, np.nan)
                cv[byz_edges[l - 1]] = v[byz_edges[l - 1]]
                layer.append(cv)
            corrupt_cands.append(layer)
        kinds = kinds_from(net, missing, [c[0] for c in corrupt_cands])
        gl = given_set_bound(net, kinds, capacity=C, local=True, intervals=iv)
        gg = given_set_bound(net, kinds, capacity=C, local=False, intervals=iv)
        n_c = min(len(c) for c in corrupt_cands)
        for k in range(n_c):
            corrupt = [c[k] for c in corrupt_cands]
            measured = error(net, X, clean, missing=missing, corrupt=corrupt)
            assert leq(measured, gl), (draw, k, measured, gl, net.sizes, net.activations)
            worst = max(worst, (measured, gl, gg, draw), key=lambda t: t[0])
    measured, gl, gg, draw = worst
    check_chain(net, failures, measured, gl, gg, {"draw": draw, "C": C})


# ---------------------------------------------------------------- reduced precision


def perturbations(net, rng, eta):
    """Weight sets with every weight moved by eta_l (random, uniform and sign-based)."""
    Ws = net.weights
    out = []
    for mode in ("plus", "minus", "inflate", "deflate", "random", "random", "uniform"):
        pert = []
        for W, e in zip(Ws, eta):
            if mode == "plus":
                d = np.ones_like(W)
            elif mode == "minus":
                d = -np.ones_like(W)
            elif mode == "inflate":
                d = np.where(W >= 0, 1.0, -1.0)
            elif mode == "deflate":
                d = np.where(W >= 0, -1.0, 1.0)
            elif mode == "random":
                d = rng.choice([-1.0, 1.0], W.shape)
            else:
                d = rng.uniform(-1.0, 1.0, W.shape)
            pert.append(W + e * d)
        out.append((mode, pert))
    # Push every output up (or down): each weight by the sign of its downstream effect
    # times the sign of the value it carries at the box's centre.
    ys = net.layer_outputs((net.input_low + net.input_high) / 2)
    for o in range(net.sizes[-1]):
        for s in (1.0, -1.0):
            pert = []
            for l, (W, e) in enumerate(zip(Ws, eta), start=1):
                g = downstream_sign(net, l)[o] if l <= net.depth else np.eye(W.shape[0])[o]
                sy = np.where(ys[l - 1] >= 0, 1.0, -1.0)
                pert.append(W + e * s * g[:, None] * sy[None, :])
            out.append((f"output{o}{'+' if s > 0 else '-'}", pert))
    return out


@settings(max_examples=500, **PROFILE)
@given(networks(), st.data())
def test_precision(case, data):
    net, rng = case
    eta = [data.draw(st.sampled_from([0.0, 0.01, 0.1, 0.5]), label=f"eta{l}")
           for l in range(1, len(net.weights) + 1)]
    X = eval_inputs(net, rng)
    clean = run(net, X)
    failures = failure_counts(net, precision=eta)
    none = [None] * len(net.weights)
    gl = given_set_bound(net, none, eta=eta, local=True)
    gg = given_set_bound(net, none, eta=eta, local=False)
    measured = 0.0
    for mode, Ws in perturbations(net, rng, eta):
        err = error(net, X, clean, weights=Ws)
        assert leq(err, gl), (mode, err, gl, eta, net.sizes, net.activations)
        measured = max(measured, err)
    check_chain(net, failures, measured, gl, gg, {"eta": eta})


# ---------------------------------------------------------------- everything at once


@settings(max_examples=500, **PROFILE)
@given(networks(), st.data())
def test_mixed_failures(case, data):
    net, rng = case
    L = net.depth
    crash, byz = [], []
    for l, n in enumerate(net.sizes[1:-1], start=1):
        c = data.draw(st.integers(0, n), label=f"crash{l}")
        crash.append(c)
        byz.append(data.draw(st.integers(0, n - c), label=f"byz{l}"))
    failed = [0] + [c + z for c, z in zip(crash, byz)]
    scrash, sbyz = [], []
    for l, n in enumerate(net.sizes[:-1], start=1):
        free = n - failed[l - 1]
        g = data.draw(st.integers(0, free), label=f"synapse_crash{l}")
        scrash.append(g)
        sbyz.append(data.draw(st.integers(0, free - g), label=f"synapse_byzantine{l}"))
    eta = [data.draw(st.sampled_from([0.0, 0.05, 0.3]), label=f"eta{l}")
           for l in range(1, L + 2)]
    C = data.draw(st.sampled_from([0.0, 1.0, 3.0]), label="C")
    X = eval_inputs(net, rng)
    clean = run(net, X)
    failures = failure_counts(net, crash, byz, scrash, sbyz, eta, C)
    iv = interval_bounds(net)
    worst = (-1.0, 0.0, 0.0, None)
    for draw in range(10):
        # Which neurons fail: random sets of the given sizes.
        crashed_n, byz_n = [[]], [[]]
        for l in range(1, L + 1):
            perm = rng.permutation(net.sizes[l])
            byz_n.append(list(perm[: byz[l - 1]]))
            crashed_n.append(list(perm[byz[l - 1]: byz[l - 1] + crash[l - 1]]))
        fail_n = [a + b for a, b in zip(crashed_n, byz_n)]
        missing, byz_edges = draw_synapse_failures(net, rng, scrash, sbyz, fail_n)
        for l in range(1, L + 2):
            missing[l - 1][:, crashed_n[l - 1]] = True
            byz_edges[l - 1][:, byz_n[l - 1]] = True
        perts = perturbations(net, rng, eta)
        corrupt_cands = []
        for l in range(1, L + 2):
            layer = []
            for v in byzantine_values(net, rng, C, l):
                cv = np.full(v.shape, np.nan)
                cv[byz_edges[l - 1]] = v[byz_edges[l - 1]]
                layer.append(cv)
            corrupt_cands.append(layer)
        kinds = kinds_from(net, missing, [c[0] for c in corrupt_cands])
        for l in range(1, L + 2):
            # Exactly the counts the bounds assume, into every receiver.
            assert np.all((kinds[l - 1] == MISSING).sum(axis=1) == failures.missing[l - 1])
            assert np.all((kinds[l - 1] == CORRUPTED).sum(axis=1) == failures.corrupted[l - 1])
        gl = given_set_bound(net, kinds, eta=eta, capacity=C, local=True, intervals=iv)
        gg = given_set_bound(net, kinds, eta=eta, capacity=C, local=False, intervals=iv)
        n_c = min(len(c) for c in corrupt_cands)
        for k in range(n_c):
            corrupt = [c[k] for c in corrupt_cands]
            mode, Ws = perts[k % len(perts)]
            measured = error(net, X, clean, missing=missing, corrupt=corrupt, weights=Ws)
            assert leq(measured, gl), (draw, k, mode, measured, gl, net.sizes, net.activations)
            worst = max(worst, (measured, gl, gg, draw), key=lambda t: t[0])
    measured, gl, gg, draw = worst
    check_chain(net, failures, measured, gl, gg, {"draw": draw, "C": C})
