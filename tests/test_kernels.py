"""The batched engine's compiled kernels against numpy, bit for bit."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim.data.pairwise import row_sum
from neurosim.engines.kernels import SMALL, kth_smallest, receive_layer


def _rows(draw, n: int, rng: np.random.Generator) -> np.ndarray:
    kind = draw(st.sampled_from(["normal", "scaled", "zeros", "ties", "inf"]))
    a = rng.normal(size=n)
    if kind == "scaled":  # magnitudes from 1e-12 to 1e12: the order of summation shows
        a *= 10.0 ** rng.integers(-12, 13, size=n)
    elif kind == "zeros":  # signed zeros among the terms
        a[rng.random(n) < 0.6] = -0.0
    elif kind == "ties":
        a = rng.integers(0, 4, size=n).astype(float)
    elif kind == "inf":
        a[rng.random(n) < 0.2] = np.inf
    return a


@settings(max_examples=300, deadline=None)
@given(data=st.data(), n=st.one_of(st.integers(1, 300), st.integers(300, 20000)),
       seed=st.integers(0, 2**32))
def test_row_sum_is_numpys_sum(data, n, seed):
    """numpy's own sum of a contiguous row: 1-D, and rows of a 2-D array."""
    a = _rows(data.draw, n, np.random.default_rng(seed))
    with np.errstate(invalid="ignore"):
        assert np.float64(row_sum(a)).tobytes() == np.add.reduce(a).tobytes()
        m = np.stack([a, a[::-1].copy()])
        sums = m.sum(axis=-1)
    for row, s in zip(m, sums, strict=True):
        assert np.float64(row_sum(row)).tobytes() == s.tobytes()


@settings(max_examples=300, deadline=None)
@given(data=st.data(), n=st.one_of(st.integers(1, 200), st.integers(200, 2000)),
       seed=st.integers(0, 2**32))
def test_kth_smallest_is_the_partitions(data, n, seed):
    """Every k: the small buffers at both ends (the whole row, or the values that reach
    the groups' bound), the selection in the middle."""
    a = _rows(data.draw, n, np.random.default_rng(seed))
    k = data.draw(st.one_of(st.integers(1, n), st.sampled_from([1, n, max(1, n - SMALL)]),
                            st.integers(1, min(n, SMALL)),
                            st.integers(max(1, n - SMALL + 1), n)))
    buf, copy = np.empty(SMALL), np.empty(n)
    assert kth_smallest(a, k, buf, copy) == (np.partition(a, k - 1)[k - 1], a.max())
    before = a.copy()
    kth_smallest(a, k, buf, copy)
    assert np.array_equal(a, before)


def _reference(fire_prev, delay, lost, values, weights, k, timeout, from_start, horizon):
    """The layer receiver by receiver, in plain numpy: signals ranked by a stable sort on
    arrival (ties by sender index), the first k used, or those before the deadline."""
    B, N, M = delay.shape
    time, s = np.empty((B, N)), np.empty((B, N))
    used = np.zeros((B, N, M), dtype=bool)
    counts = np.empty((B, N, 3), dtype=np.int64)
    for b in range(B):
        for i in range(N):
            a = np.where(lost[b, i], np.inf, fire_prev[b] + delay[b, i])
            order = np.argsort(a, kind="stable")
            kth = a[order[k - 1]]
            t = kth
            if timeout < np.inf:
                t = min(t, (0.0 if from_start else a.min()) + timeout)
            if t >= kth:
                used[b, i, order[:k]] = True
            else:
                used[b, i] = a <= t
            time[b, i] = t
            v = np.where(used[b, i], values[b, i], 0.0)
            s[b, i] = (weights[b, i] * v).sum()
            # In flight: sent, not lost, not arrived (an infinite delay included).
            carried = np.isfinite(fire_prev[b]) & ~lost[b, i]
            counts[b, i] = ((a < horizon).sum(), (carried & (a >= horizon)).sum(),
                            used[b, i].sum())
    return time, used, s, counts


@settings(max_examples=200, deadline=None)
@given(B=st.integers(1, 3), N=st.integers(1, 4), M=st.integers(1, 70),
       seed=st.integers(0, 2**32), data=st.data())
def test_receive_layer_is_the_stable_ranking(B, N, M, seed, data):
    rng = np.random.default_rng(seed)
    delay = data.draw(st.sampled_from([
        lambda: rng.exponential(size=(B, N, M)),
        lambda: np.ones((B, N, M)),  # every arrival ties
        lambda: rng.integers(0, 3, size=(B, N, M)).astype(float),
        # a straggler factor that overflows: some delays are inf
        lambda: np.where(rng.random((B, N, M)) < 0.2, np.inf, rng.exponential(size=(B, N, M))),
    ]))()
    fire_prev = np.where(rng.random((B, M)) < 0.15, np.inf, rng.integers(0, 2, (B, M)) * 0.5)
    lost = rng.random((B, N, M)) < data.draw(st.sampled_from([0.0, 0.2]))
    values = rng.normal(size=(B, N, M))
    own = data.draw(st.booleans())  # each trial its own weights, or one matrix for all
    weights = rng.normal(size=(B, N, M)) if own else \
        np.broadcast_to(rng.normal(size=(N, M)), (B, N, M))
    k = data.draw(st.integers(1, M))
    timeout = data.draw(st.sampled_from([np.inf, 0.0, 0.7, 2.0]))
    from_start = data.draw(st.booleans())
    horizon = data.draw(st.sampled_from([np.inf, 1.5, 100.0]))
    time, s = np.empty((B, N)), np.empty((B, N))
    used = np.empty((B, N, M), dtype=bool)
    counts = np.empty((B, N, 3), dtype=np.int64)
    none = np.empty((0, 0, 0))
    shared = np.empty((0, 0)) if own else np.ascontiguousarray(weights[0])
    receive_layer(fire_prev, delay, lost if lost.any() else none.astype(bool),
                  np.zeros((B, M)), values, shared, weights if own else none, k, timeout,
                  from_start, horizon, time, used, s, counts)
    want = _reference(fire_prev, delay, lost, values, weights, k, timeout, from_start, horizon)
    assert np.array_equal(time, want[0])
    fired = np.isfinite(time)  # a receiver that never fires uses nothing (the engine clears it)
    assert np.array_equal(used[fired], want[1][fired])
    assert s[fired].tobytes() == want[2][fired].tobytes()
    assert np.array_equal(counts[..., :2], want[3][..., :2])
    assert np.array_equal(counts[..., 2][fired], want[3][..., 2][fired])


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 150), min_size=2, max_size=4),
       activation=st.sampled_from(["sigmoid", "tanh", "relu"]), seed=st.integers(0, 2**16))
def test_fault_free_outputs_are_the_forward_pass(sizes, activation, seed):
    """The compiled forward pass the batched runs take their fault-free outputs from."""
    from neurosim.data.scenario import parse_scenario
    from neurosim.engines.block import fault_free_outputs
    from neurosim.setup import prepare

    setup = prepare(parse_scenario({"seed": seed, "trials": 5, "network": {
        "sizes": sizes, "activation": activation, "weight_scale": 3.0},
        "inputs": {"kind": "uniform"}}))
    want = setup.net.forward(setup.inputs)
    assert fault_free_outputs(setup.net, setup.inputs).tobytes() == want.tobytes()


@settings(max_examples=150, deadline=None)
@given(T=st.integers(1, 3), N=st.integers(1, 5), M=st.integers(1, 300),
       seed=st.integers(0, 2**32), eta=st.sampled_from([0.0, 1e-3, 0.5]),
       capacity=st.sampled_from([0.0, 1.0, 1e300]))
def test_signal_sums_are_numpys_terms_summed(T, N, M, seed, eta, capacity):
    """The given-set bound's compiled per-receiver sums: each signal's two terms, written
    with numpy operations on whole arrays, summed by numpy."""
    from neurosim.bounds.signal_sums import signal_sums
    from neurosim.data.signals import CORRECT, CORRUPTED, MISSING

    rng = np.random.default_rng(seed)
    A = np.abs(rng.normal(size=(N, M))) * 10.0 ** rng.integers(-3, 4, size=(N, M))
    B = rng.random(M) * 5
    e = rng.random((T, M)) * rng.choice([0.0, 1.0, np.inf], size=(T, M), p=[0.3, 0.65, 0.05])
    kind = rng.choice(np.array([CORRECT, MISSING, CORRUPTED], dtype=np.int8), size=(T, N, M))
    ei = e[:, None, :]
    with np.errstate(invalid="ignore", over="ignore"):
        terms = np.select([kind == MISSING, kind == CORRUPTED],
                          [A * B, A * (capacity + B) + eta * capacity],
                          A * ei + eta * (B + ei))
        faulty = np.select([kind == MISSING, kind == CORRUPTED],
                           [(A + eta) * 0.0, (A + eta) * capacity], (A + eta) * (B + ei))
        want = terms.sum(axis=-1), faulty.sum(axis=-1)
    got = np.empty((T, N)), np.empty((T, N))
    signal_sums(A, B, eta, e, kind, capacity, MISSING, CORRUPTED, *got)
    for g, w in zip(got, want, strict=True):
        assert g.tobytes() == w.tobytes()


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32), n=st.integers(1, 3000))
def test_next_float_is_nextafter(seed, n):
    """The compiled next float up and down against numpy's nextafter, bit for bit: random
    bit patterns (NaNs, infinities, subnormals, signed zeros among them) and the edges."""
    from neurosim.bounds.next_float import step
    from neurosim.bounds.rounding import up, widen

    rng = np.random.default_rng(seed)
    x = rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, size=n,
                     dtype=np.int64, endpoint=True).view(np.float64)
    edges = np.array([0.0, -0.0, 5e-324, -5e-324, np.inf, -np.inf, np.nan,
                      np.finfo(float).max, -np.finfo(float).max, 2.2250738585072014e-308])
    x = np.concatenate([x, edges, rng.normal(size=n)])
    with np.errstate(over="ignore", invalid="ignore"):  # NaNs and infinities on purpose
        for direction in (True, False):
            out = np.empty_like(x)
            step(x, out, direction)
            want = np.nextafter(x, np.inf if direction else -np.inf)
            same = (out.view(np.int64) == want.view(np.int64)) | (np.isnan(out) & np.isnan(want))
            assert same.all(), x[~same]
        big = np.tile(x, 1 + 600 // len(x))  # the compiled path of the bounds' own helpers
        assert np.array_equal(up(big), np.nextafter(big, np.inf), equal_nan=True)
        low, high = widen(big, big, 0.0)
        assert np.array_equal(low, np.nextafter(big - 0.0, -np.inf), equal_nan=True)
        assert np.array_equal(high, np.nextafter(big + 0.0, np.inf), equal_nan=True)


def test_kernels_name_the_pairwise_sums_they_were_compiled_with():
    """numba's on-disk cache keys a kernel on its own file's text: a change to the sums
    they inline must change that text, or stale kernels keep the old sums."""
    import hashlib
    from pathlib import Path

    import neurosim.bounds.signal_sums as signal_sums
    import neurosim.bounds.substitution_sums as substitution_sums
    import neurosim.data.pairwise as pairwise
    import neurosim.engines.kernels as kernels

    digest = hashlib.sha256(Path(pairwise.__file__).read_bytes()).hexdigest()[:16]
    for module in (kernels, signal_sums, substitution_sums):
        assert module.PAIRWISE_DIGEST == digest, module.__name__


@settings(max_examples=60, deadline=None)
@given(alpha=st.one_of(st.floats(1.0, 60.0, exclude_min=True), st.sampled_from([1.0 + 1e-12])),
       mean=st.floats(1e-6, 1e6), rows=st.integers(1, 5), n=st.integers(1, 3000),
       seed=st.integers(0, 2**32))
def test_pareto_rows_are_the_generators_draws(alpha, mean, rows, n, seed):
    """The compiled Pareto pass (exponentials, then expm1 in a kernel) gives what
    Generator.pareto and the model's two steps give, bit for bit, stream by stream."""
    from neurosim.engines.latency import Pareto

    model = Pareto(mean, alpha)
    out = np.empty((rows, n))
    model.sample_rows((np.random.default_rng([seed, r]) for r in range(rows)), out)
    for r in range(rows):
        ref = np.empty(n)
        model.sample_into(np.random.default_rng([seed, r]), ref)
        assert out[r].tobytes() == ref.tobytes()
        assert np.array_equal(ref, model.sample(np.random.default_rng([seed, r]), n))
