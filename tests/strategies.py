"""Hypothesis strategies and checks shared by the property tests."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck
from hypothesis import strategies as st

from neurosim.bounds.rounding import bounds_ordered
from neurosim.data.network import make_network

ACTS = ["sigmoid", "tanh", "relu", "identity", "hard_sigmoid"]
PROFILE = dict(deadline=None, derandomize=True, database=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def leq(measured: float, bound: float) -> bool:
    """A measured error against a bound: no tolerance, the bounds hold for float64."""
    return measured <= bound


def below(a: float, b: float) -> bool:
    """One bound against a larger one, to within their own evaluation rounding."""
    return bounds_ordered(a, b)


@st.composite
def networks(draw, max_hidden=4):
    """A random small network (every activation, weights and biases of both signs, a
    random input box) and the numpy Generator that made it, so that a failure names
    everything that reproduces it."""
    n0 = draw(st.integers(1, 3))
    hidden = draw(st.lists(st.integers(1, max_hidden), min_size=1, max_size=2))
    n_out = draw(st.integers(1, 2))
    acts = draw(st.lists(st.sampled_from(ACTS), min_size=len(hidden), max_size=len(hidden)))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    sizes = [n0, *hidden, n_out]
    scale = float(rng.choice([0.3, 1.0, 3.0]))
    ws = [rng.uniform(-scale, scale, (n, m)) for m, n in zip(sizes, sizes[1:])]
    bs = [rng.uniform(-scale, scale, n) for n in sizes[1:]]
    lo = rng.uniform(-2.0, 1.0, n0)
    hi = lo + rng.uniform(0.0, 2.5, n0)
    net = make_network(ws, bs, acts, lo, hi)
    return net, rng
