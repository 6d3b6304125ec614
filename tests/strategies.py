"""Hypothesis strategies and checks shared by the property tests."""

from __future__ import annotations

from pathlib import Path

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


def ascend(net, f, x0, steps: int = 30, step: float = 0.25):
    """Projected finite-difference ascent of f (inputs (n, N_0) -> (n,)) from x0 within the
    input box, a signed step per coordinate halved on failure: (best x, f there)."""
    lo, hi = net.input_low, net.input_high
    x, best = x0.copy(), f(x0[None])[0]
    step = step * np.maximum(hi - lo, 1e-9)
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
    return x, best


def downstream_sign(net, l):
    """Sign of the linearised effect of each neuron of layer l on each output, (N_out, N_l)."""
    G = np.eye(net.sizes[l])
    for W in net.weights[l:]:
        G = W @ G
    return np.where(G >= 0, 1.0, -1.0)


PNG = b"\x89PNG\r\n\x1a\n"


def tiny(tmp_path: Path, name: str, **sections) -> Path:
    """A small scenario file: a 6-8-6-3 sigmoid net, 6 trials."""
    text = {"network": 'sizes = [6, 8, 6, 3]\nactivation = "sigmoid"', **sections}
    body = "\n".join(f"[{k}]\n{v}" for k, v in text.items())
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\nseed = 4\ntrials = 6\n{body}\n')
    return path


def without_unread(failures: dict) -> dict:
    """A drawn [failures] table without the keys none of its failures reads (a scenario
    that sets one is refused): `crash_time` without crashing neurons, `straggler_factor`
    without stragglers, `byzantine_mode` without Byzantine neurons or synapses."""
    def some(*keys: str) -> bool:
        return any(np.any(np.asarray(failures.get(k) or 0) != 0) for k in keys)

    drop = [key for key, readers in (
        ("crash_time", ("crash", "crash_probability", "crashed")),
        ("straggler_factor", ("stragglers", "synapse_stragglers")),
        ("byzantine_mode", ("byzantine", "synapse_byzantine", "byzantine_list")))
        if not some(*readers)]
    return {k: v for k, v in failures.items() if k not in drop}
