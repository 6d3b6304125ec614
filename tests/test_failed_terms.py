"""The failed signals' sums, compiled, against numpy's expressions, bit for bit."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim.bounds.failed_terms import FailedSignals, failure_box
from neurosim.data.signals import CORRECT, CORRUPTED, MISSING


def numpy_failure_box(W, y_lo, y_hi, eta, C, failed):
    """The terms with whole-array numpy operations, summed by np.bincount (in the order
    given, from 0.0)."""
    n = W.shape[1]
    w = W.reshape(-1)[failed.weight]
    sender = failed.sender if np.ndim(y_lo) == 1 else failed.sender + failed.trial * n
    p, q = -w * y_lo.reshape(-1)[sender], -w * y_hi.reshape(-1)[sender]
    extra = np.where(failed.corrupted, (np.abs(w) + eta) * C, 0.0)
    return failed.sums(np.minimum(p, q) - extra), failed.sums(np.maximum(p, q) + extra)


def _values(rng, shape, kind):
    v = rng.normal(size=shape) * 10.0 ** rng.integers(-300, 300, size=shape)
    if kind == "zeros":
        v[rng.random(shape) < 0.5] = rng.choice([0.0, -0.0])
    elif kind == "special":
        v[rng.random(shape) < 0.2] = rng.choice([np.inf, -np.inf, np.nan, 5e-324, -0.0])
    return v


@settings(max_examples=200, deadline=None)
@given(trials=st.integers(1, 4), receivers=st.integers(1, 7), senders=st.integers(1, 9),
       kind=st.sampled_from(["normal", "zeros", "special"]), own_values=st.booleans(),
       eta=st.sampled_from([0.0, 0.01]), C=st.sampled_from([0.5, 1.0, 3.0]),
       seed=st.integers(0, 2**32))
def test_failure_box_is_numpys(trials, receivers, senders, kind, own_values, eta, C, seed):
    rng = np.random.default_rng(seed)
    W = _values(rng, (receivers, senders), kind)
    a = _values(rng, (trials, senders) if own_values else (senders,), kind)
    b = _values(rng, a.shape, kind)
    y_lo, y_hi = np.minimum(a, b), np.maximum(a, b)
    kinds = rng.choice([CORRECT, MISSING, CORRUPTED], p=[0.5, 0.3, 0.2],
                       size=(trials, receivers, senders)).astype(np.int8)
    failed = FailedSignals.of(kinds)
    with np.errstate(all="ignore"):
        got = failure_box(W, y_lo, y_hi, eta, C, failed)
        ref = numpy_failure_box(W, y_lo, y_hi, eta, C, failed)
    for g, r in zip(got, ref, strict=True):
        assert g.shape == r.shape == (trials, receivers)
        # Bit for bit, but for a NaN's sign, which no bound keeps (every NaN becomes +inf).
        assert np.array_equal(np.isnan(g), np.isnan(r))
        assert np.where(np.isnan(g), 0.0, g).tobytes() == np.where(np.isnan(r), 0.0, r).tobytes()
