"""Corners an outside audit of the bounds found: each test failed before its fix.

The truth is computed here, apart from the engines and the bounds: the faulty network's
float64 forward pass written out with numpy for every failed set (brute force), compared
with the bounds for that set and for the counts that hold it.
"""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim.bounds.signed import given_set_signed_bound, signed_bound
from neurosim.bounds.weight_aware import given_set_bound, signals_for_crashed
from neurosim.data.counts import failure_counts
from neurosim.data.network import make_network

TINY = 2.0 ** -1074


def crashed_error(net, x: np.ndarray, crashed: list[list[int]]) -> float:
    """max_k |F'_k(x) - F_k(x)| with the neurons `crashed[l-1]` of hidden layer l sending
    nothing (their receivers use 0), as a plain float64 forward pass."""
    y, yf = x.astype(float), x.astype(float)
    for l, (W, b) in enumerate(zip(net.weights, net.biases), start=1):
        s, sf = W @ y + b, W @ yf + b
        if l <= net.depth:
            phi = net.phis[l - 1]
            y, yf = phi(s), phi(sf)
            yf = yf.copy()
            yf[list(crashed[l - 1])] = 0.0
        else:
            y, yf = s, sf
    return float(np.abs(yf - y).max())


def all_crash_sets(net, counts: list[int]):
    """Every choice of exactly counts[l-1] crashed neurons per hidden layer."""
    per_layer = [list(itertools.combinations(range(net.sizes[l]), counts[l - 1]))
                 for l in range(1, net.depth + 1)]
    return itertools.product(*per_layer)


def test_subnormal_chord_offset_is_kept():
    """A relu whose pre-activation deviation lies in [-94 TINY, 3e9 TINY]: the chord's
    offset |a| b / (b - a) (about 19 TINY) was computed as a * b * ... / (b - a), whose
    product a * b underflowed to 0; the output weight 1e10 then made the missing offset
    4.9e-314, and the given-set signed bound (1.461622563316191e-304) fell below the
    measured error (1.4616225638102354e-304)."""
    net = make_network(
        [np.array([[1e10], [1e10]]),
         np.array([[0.93558915, -0.2958357], [-1.60854005, -1.09352153]]),
         np.array([[1e10, 1e10], [1e10, 1e10]])],
        None, ["identity", "relu"], np.array([0.0]), np.array([5e-324]))
    x = net.input_high
    for crashed in ([0], [1]):
        signals = signals_for_crashed(net, [crashed, []])
        error = crashed_error(net, x, [crashed, []])
        assert error > 0
        assert error <= given_set_signed_bound(net, signals)
        # and with the output layer skipping the second signal (a quorum of 1)
        skip = [s if s is None else s.copy() for s in signals] + []
        skip[2] = np.array([[0, 1], [0, 1]], dtype=np.int8)
        y = net.layer_outputs(x)
        yf1 = y[1].copy()
        yf1[crashed] = 0.0
        yf2 = net.phis[1](net.weights[1] @ yf1 + net.biases[1])
        out = net.weights[2][:, :1] @ yf2[:1] + net.biases[2]
        assert float(np.abs(out - y[3]).max()) <= given_set_signed_bound(net, skip)


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(st.integers(0, 10**6), st.sampled_from(["relu", "identity", "hard_sigmoid", "tanh"]),
       st.sampled_from([5e-324, 1e-320, 1e-310]), st.sampled_from([1.0, 1e10, 1e300]))
def test_subnormal_values_every_crash_set(seed, act, top, gain):
    """Networks whose values are subnormal (a tiny input box) and whose later weights are
    large: every crash set's float64 error within its given-set and worst-case bounds."""
    rng = np.random.default_rng(seed)
    sizes = [2, 3, 3, 2]
    Ws = [rng.normal(size=(sizes[l], sizes[l - 1])) for l in range(1, 4)]
    Ws[-1] *= gain
    net = make_network(Ws, None, [act, act], np.zeros(2), np.full(2, top))
    counts = [1, 1]
    worst = signed_bound(net, failure_counts(net, crash=counts))
    for x in (net.input_high, np.array([top, 0.0])):
        for sets in all_crash_sets(net, counts):
            crashed = [list(c) for c in sets]
            signals = signals_for_crashed(net, crashed)
            error = crashed_error(net, x, crashed)
            assert error <= given_set_signed_bound(net, signals) <= worst * (1 + 2**-40)
            assert error <= given_set_bound(net, signals)
