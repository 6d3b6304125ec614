"""The worst-case bounds hold for *at most* the counts, in every split, at every receiver.

A scenario's counts are upper limits: a quorum receiver may skip a corrupted signal and use
one more correct one, a neuron that crashes late may still reach some receivers, and each
receiver may miss a different set. On tiny networks this enumerates all of it: for every
receiver independently, every assignment of its senders to correct / missing / corrupted
with at most m missing and at most z corrupted, at every layer at once; corrupted values at
+C, -C and random in [-C, C]; inputs at every corner of the box and inside it. The largest
float64 error over all of that must stay below the weight-aware bound and the paper's
at-most Fep, and each sampled split's error below its given-set bound.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurosim.bounds.intervals import interval_bounds
from neurosim.bounds.paper import paper_fep
from neurosim.bounds.rounding import bounds_ordered
from neurosim.bounds.weight_aware import given_set_bound, weight_aware_bound
from neurosim.data.counts import Failures
from neurosim.data.network import make_network, preactivation
from neurosim.data.signals import CORRECT, CORRUPTED, MISSING

ACTS = ["sigmoid", "tanh", "relu", "identity", "hard_sigmoid"]
PROFILE = dict(deadline=None, derandomize=True, database=None,
               suppress_health_check=[HealthCheck.too_slow])


def rows(n: int, m: int, z: int) -> np.ndarray:
    """Every kind row of n senders with at most m missing and at most z corrupted, (R, n)."""
    out = [r for r in itertools.product((CORRECT, MISSING, CORRUPTED), repeat=n)
           if r.count(MISSING) <= m and r.count(CORRUPTED) <= z]
    return np.array(out, dtype=np.int8)


def layer_kinds(n_recv: int, n_send: int, m: int, z: int) -> np.ndarray:
    """Every kind matrix of a layer, each receiver its own row: (R^n_recv, n_recv, n_send)."""
    r = rows(n_send, m, z)
    combos = itertools.product(range(len(r)), repeat=n_recv)
    return np.array([r[list(c)] for c in combos])


def faulty_outputs(net, X, kinds, values):
    """Outputs for every input and every combination of the layers' kind matrices.

    kinds[l-1]: (K_l, N_l, N_{l-1}); values[l-1]: (N_l, N_{l-1}) corrupted values.
    Returns (n_inputs, K_1, ..., K_{L+1}, N_out), the engine's summation order.
    """
    y = X  # (n, N_0), batch axes grow by one per layer
    for l, (W, b) in enumerate(zip(net.weights, net.biases), start=1):
        k = kinds[l - 1]
        u = y[..., None, None, :]  # (..., 1, 1, N_{l-1}) against (K, N_l, N_{l-1})
        u = np.where(k == MISSING, 0.0, np.where(k == CORRUPTED, values[l - 1], u))
        s = preactivation(W, u, b)  # (..., K, N_l)
        y = net.phis[l - 1](s) if l <= net.depth else s
    return y


@st.composite
def tiny_networks(draw):
    n0 = draw(st.integers(1, 2))
    hidden = draw(st.lists(st.integers(1, 2), min_size=1, max_size=2))
    sizes = [n0, *hidden, 1]
    acts = draw(st.lists(st.sampled_from(ACTS), min_size=len(hidden), max_size=len(hidden)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = float(rng.choice([0.5, 2.0, 6.0]))
    ws = [rng.uniform(-scale, scale, (n, m)) for m, n in zip(sizes, sizes[1:])]
    bs = [rng.uniform(-scale, scale, n) for n in sizes[1:]]
    lo = rng.uniform(-1.0, 0.5, n0)
    net = make_network(ws, bs, acts, lo, lo + rng.uniform(0.1, 2.0, n0))
    return net, rng


@settings(max_examples=400, **PROFILE)
@given(tiny_networks(), st.data())
def test_every_split_of_at_most_the_counts(case, data):
    net, rng = case
    sizes = net.sizes
    missing, corrupted = [], []
    for l in range(1, len(sizes)):
        n = sizes[l - 1]
        m = data.draw(st.integers(0, min(n, 1)), label=f"missing{l}")
        missing.append(m)
        corrupted.append(data.draw(st.integers(0, min(n - m, 1)), label=f"corrupted{l}"))
    C = data.draw(st.sampled_from([0.0, 1.0, 5.0]), label="C")
    failures = Failures(tuple(missing), tuple(corrupted), (0.0,) * len(missing), C)
    kinds = [layer_kinds(sizes[l], sizes[l - 1], missing[l - 1], corrupted[l - 1])
             for l in range(1, len(sizes))]
    lo, hi = net.input_low, net.input_high
    corners = np.array(list(itertools.product([0.0, 1.0], repeat=len(lo))))
    X = np.vstack([lo + corners * (hi - lo), rng.uniform(lo, hi, (3, len(lo)))])
    clean = net.forward(X)
    shape = [len(X)] + [1] * len(kinds) + [sizes[-1]]
    value_sets = [[np.full(W.shape, v) for W in net.weights] for v in (C, -C)]
    value_sets += [[rng.uniform(-C, C, W.shape) for W in net.weights] for _ in range(2)]
    errors = np.stack([np.abs(faulty_outputs(net, X, kinds, vals) - clean.reshape(shape))
                       for vals in value_sets])  # (values, inputs, K_1..K_{L+1}, out)
    measured = float(errors.max())
    iv = interval_bounds(net)
    wa = weight_aware_bound(net, failures, intervals=iv)
    wa_global = weight_aware_bound(net, failures, local=False, intervals=iv)
    fep = paper_fep(net, failures).fep
    info = dict(sizes=sizes, acts=net.activations, missing=missing, corrupted=corrupted, C=C,
                measured=measured, wa=wa, wa_global=wa_global, fep=fep)
    assert measured <= wa, info
    assert bounds_ordered(wa, wa_global) and bounds_ordered(wa_global, fep), info
    # The given-set bound of the worst split and of a few random ones.
    per_split = errors.max(axis=(0, 1, -1))  # (K_1, ..., K_{L+1})
    picks = [np.unravel_index(int(per_split.argmax()), per_split.shape)]
    picks += [tuple(int(rng.integers(k)) for k in per_split.shape) for _ in range(5)]
    for pick in picks:
        signals = [k[i] for k, i in zip(kinds, pick)]
        given_set = given_set_bound(net, signals, capacity=C, intervals=iv)
        assert per_split[pick] <= given_set, (info, pick)
        assert bounds_ordered(given_set, wa), (info, pick, given_set)


def test_fewer_failures_can_do_more_harm():
    """Why the at-most form. 1-2-2-1 identity net: y1 = x + 10 (twice), y2 = y1a - y1b
    (twice, 0 when nothing fails), F = y2a + y2b, x in [0, 1]. Counts: each layer-2 receiver
    misses at most one layer-1 signal, the output at most one layer-2 signal. The paper's
    exact-count Fep charges the output's missing signal B_2 = 1 and its correct one
    delta_2 = 11: 12. But the output may miss nothing while both layer-2 receivers miss y1b:
    F = 2 (x + 10) = 22 at x = 1."""
    one, minus = np.array([[1.0], [1.0]]), np.array([[1.0, -1.0], [1.0, -1.0]])
    net = make_network([one, minus, np.array([[1.0, 1.0]])],
                       [np.full(2, 10.0), np.zeros(2), np.zeros(1)], "identity", 0.0, 1.0)
    counts = Failures((0, 1, 1), (0, 0, 0), (0.0, 0.0, 0.0), 1.0)
    kinds = [np.zeros((2, 1), np.int8), np.array([[CORRECT, MISSING]] * 2, np.int8),
             np.zeros((1, 2), np.int8)]
    x = np.ones((1, 1))
    measured = abs(faulty_outputs(net, x, [k[None] for k in kinds],
                                  [np.zeros(W.shape) for W in net.weights]).ravel()[0]
                   - net.forward(x)[0, 0])
    assert measured == 22.0
    paper = paper_fep(net, counts)
    assert paper.fep_exact_f == pytest.approx(12.0) and paper.fep_exact_f < measured
    assert measured <= weight_aware_bound(net, counts) <= paper.fep
    assert measured <= given_set_bound(net, kinds)
