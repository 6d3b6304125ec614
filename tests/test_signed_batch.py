"""The signed given-set bound of a block of trials equals the per-trial function's, bit for bit.

`given_set_signed_bounds` (neurosim.bounds.signed_batch) is what a run uses;
`given_set_signed_bound` (neurosim.bounds.signed) is the reference, one trial
at a time. Random networks of every activation, and blocks mixing every signal
kind: missing, corrupted, weight errors (eta), mixtures, trials where every
signal was correct, and receivers that never fired (their rows all correct, as
the engines give them). Equality is of the float64 bits (signed zeros and
infinities included), so the bound a run writes does not depend on the block
a trial falls in.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import PROFILE, networks

from neurosim.bounds.failed_terms import FailedSignals
from neurosim.bounds.intervals import interval_bounds
from neurosim.bounds.signed import given_set_signed_bound
from neurosim.bounds.signed_batch import SignedBlockBound, given_set_signed_bounds
from neurosim.bounds.weight_aware import (
    CORRECT,
    CORRUPTED,
    MISSING,
    given_set_bound,
    given_set_bounds,
)
from neurosim.data.network import make_network
from neurosim.runner import realised_counts_block

# What a trial's signals look like: (P(missing), P(corrupted)) per signal.
MIXES = {"correct": (0.0, 0.0), "missing": (0.3, 0.0), "corrupted": (0.0, 0.3),
         "mixed": (0.25, 0.15), "dense": (0.6, 0.3), "one": None}


def trial_kinds(net, rng, mix, never_fired):
    """One trial's kinds, (N_l, N_{l-1}) int8 per layer."""
    kinds = []
    for W in net.weights:
        if MIXES[mix] is None:  # a single failed signal, at a random layer
            kinds.append(np.zeros(W.shape, dtype=np.int8))
            continue
        pm, pz = MIXES[mix]
        k = rng.choice([CORRECT, MISSING, CORRUPTED], size=W.shape,
                       p=[1.0 - pm - pz, pm, pz]).astype(np.int8)
        if never_fired:
            k[rng.random(W.shape[0]) < 0.3] = CORRECT
        kinds.append(k)
    if MIXES[mix] is None:
        l = rng.integers(len(kinds))
        j, i = (rng.integers(n) for n in kinds[l].shape)
        kinds[l][j, i] = rng.choice([MISSING, CORRUPTED])
    return kinds


def assert_bits_equal(net, block, eta, C, iv=None):
    got = given_set_signed_bounds(net, block, eta, C, intervals=iv)
    ref = np.array([given_set_signed_bound(net, [k[b] for k in block], eta, C, intervals=iv)
                    for b in range(len(block[0]))])
    assert got.dtype == np.float64 and got.shape == ref.shape
    assert got.tobytes() == ref.tobytes(), (got, ref)
    # With the weight-aware given-set bounds passed in, as the runner does (the block's
    # are the per-trial function's too: trials that used every signal of a layer share a
    # row where nothing failed below).
    given_ = given_set_bounds(net, block, eta, C, intervals=iv)
    alone = [given_set_bound(net, [k[b] for k in block], eta, C, intervals=iv)
             for b in range(len(block[0]))]
    assert given_.tobytes() == np.array(alone).tobytes()
    assert given_set_signed_bounds(net, block, eta, C, intervals=iv,
                                   given=given_).tobytes() == ref.tobytes()
    # With the failed signals found once for both bounds and the counts, as the runner
    # does: the same bits, and the counts the kinds give.
    failed = [FailedSignals.of(k) for k in block]
    assert given_set_bounds(net, block, eta, C, intervals=iv,
                            failed=failed).tobytes() == given_.tobytes()
    assert SignedBlockBound(net, eta, C, iv)(block, given_, failed).tobytes() == ref.tobytes()
    fire_time = [None] + [np.zeros(k.shape[:-1]) for k in block]
    for a, b in zip(realised_counts_block(block, fire_time),
                    realised_counts_block(block, fire_time, failed=failed), strict=True):
        assert np.array_equal(a, b)
    return got


@contextmanager
def short_rows(short: int) -> Iterator[None]:
    """Rows of at most `short` terms through the compiled step, longer ones through BLAS
    (the default 64 sends every row of these networks to the kernel; 0, every row to BLAS;
    3, a mixture), in the reference and the block version alike."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("neurosim.bounds.signed.SHORT", short)
        mp.setattr("neurosim.bounds.signed_batch.SHORT", short)
        yield


@pytest.mark.parametrize("short", [64, 0, 3])
@settings(max_examples=60, **PROFILE)
@given(networks(max_hidden=4), st.data())
def test_block_equals_trial_by_trial(short, case, data):
    with short_rows(short):
        _block_equals_trial_by_trial(case, data)


def _block_equals_trial_by_trial(case, data):
    net, rng = case
    n = data.draw(st.integers(1, 6), label="trials")
    mixes = data.draw(st.lists(st.sampled_from(sorted(MIXES)), min_size=n, max_size=n),
                      label="mixes")
    never = data.draw(st.lists(st.booleans(), min_size=n, max_size=n), label="never fired")
    eta = data.draw(st.sampled_from([0.0, 0.01, 0.2, "per layer"]), label="eta")
    if eta == "per layer":
        eta = [float(e) for e in rng.choice([0.0, 0.05], len(net.weights))]
    C = data.draw(st.sampled_from([0.5, 1.0, 3.0]), label="C")
    trials = [trial_kinds(net, rng, m, nf) for m, nf in zip(mixes, never, strict=True)]
    block = [np.stack(layer) for layer in zip(*trials, strict=True)]
    got = assert_bits_equal(net, block, eta, C)
    # A trial's value does not depend on the others in its block, nor on the blocks that
    # one SignedBlockBound (as a run keeps) evaluated before.
    bound = SignedBlockBound(net, eta, C)
    for b in range(n):
        alone = bound([k[b:b + 1] for k in block])
        assert alone.tobytes() == got[b:b + 1].tobytes()
    assert bound([k[::-1] for k in block]).tobytes() == got[::-1].tobytes()


@pytest.mark.parametrize("short", [64, 30, 0])
def test_block_equals_trial_by_trial_on_a_wider_network(short, monkeypatch):
    """Sizes where the products go through BLAS's blocked kernels (tens of neurons), the
    failures sparse as under a quorum, first failures at different layers in one block;
    rows of 33 and 40 terms through BLAS and of 24 through the compiled step (30)."""
    monkeypatch.setattr("neurosim.bounds.signed.SHORT", short)
    monkeypatch.setattr("neurosim.bounds.signed_batch.SHORT", short)
    rng = np.random.default_rng(7)
    sizes = [40, 33, 24, 5]
    for acts in (["sigmoid", "tanh"], ["relu", "hard_sigmoid"], ["identity", "sigmoid"]):
        ws = [rng.normal(0.0, 0.4, (n, m)) for m, n in zip(sizes, sizes[1:])]
        bs = [rng.normal(0.0, 0.3, n) for n in sizes[1:]]
        net = make_network(ws, bs, acts, -np.ones(sizes[0]), np.ones(sizes[0]))
        iv = interval_bounds(net)
        block = [np.where(rng.random((9, n, m)) < 0.05, MISSING, CORRECT).astype(np.int8)
                 for m, n in zip(sizes, sizes[1:])]
        block[0][3:6] = CORRECT  # first failure at layer 2, or 3, or none
        block[1][4:6] = CORRECT
        block[2][5] = CORRECT
        block[1][7, 2, 5] = CORRUPTED
        for eta, C in ((0.0, 1.0), (0.01, 2.0)):
            got = assert_bits_equal(net, block, eta, C, iv)
            if eta == 0.0:  # trial 5 used every signal, exactly
                assert got[5] == 0.0
            assert np.all(got[np.arange(9) != 5] > 0.0)


@pytest.mark.parametrize("w", [-1.5, 1.5])
def test_a_failure_term_zero_at_one_end_starts_the_substitution(w):
    """A relu neuron whose output can be 0 sends to weight w and that one signal is
    missing: the failure term -w y is [0, |w| y_hi] or [-|w| y_hi, 0], zero at one end.
    The layer is the trial's first with a failure (the per-trial function tests both)."""
    ws = [np.array([[1.0], [2.0]]), np.array([[w, 0.5]]), np.array([[1.0], [-2.0]])]
    bs = [np.array([-0.5, 0.1]), np.array([0.2]), np.zeros(2)]
    net = make_network(ws, bs, ["relu", "sigmoid"], np.array([0.0]), np.array([1.0]))
    iv = interval_bounds(net)
    assert iv.low[1][0] == 0.0 < iv.high[1][0]  # neuron 0 of layer 1 can output 0
    block = [np.zeros((2, *W.shape), dtype=np.int8) for W in ws]
    block[1][0, 0, 0] = MISSING  # trial 0: the relu neuron's signal to the negative weight
    got = assert_bits_equal(net, block, 0.0, 1.0, iv)
    assert got[0] > 0.0 and got[1] == 0.0



def test_overflow_and_empty_blocks():
    """Weights near the float64 limit: intervals, boxes and lines overflow to inf (and
    0 * inf to NaN, which the bounds turn into inf); the block gives the same bits. An
    empty block gives no bounds."""
    acts = ["sigmoid", "tanh", "relu", "identity", "hard_sigmoid"]
    overflowed = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        sizes = [2, 3, 3, 2]
        scale = [1e150, 1e300, 1.0][seed % 3]
        ws = [rng.uniform(-scale, scale, (n, m)) * (rng.random((n, m)) < 0.8)
              for m, n in zip(sizes, sizes[1:])]
        bs = [rng.uniform(-1.0, 1.0, n) for n in sizes[1:]]
        net = make_network(ws, bs, list(rng.choice(acts, 2)), np.full(2, -1e100), np.ones(2))
        block = [rng.choice([CORRECT, MISSING, CORRUPTED], size=(5, n, m),
                            p=[0.7, 0.2, 0.1]).astype(np.int8)
                 for m, n in zip(sizes, sizes[1:])]
        block[0][0] = CORRECT
        with np.errstate(all="ignore"):
            got = assert_bits_equal(net, block, [0.0, 0.1][seed % 2], [1.0, 1e300][seed % 2])
        overflowed += int(np.isinf(got).sum())
        assert given_set_signed_bounds(net, [k[:0] for k in block]).shape == (0,)
    assert overflowed > 0  # the case this test is for did arise


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32), shape=st.sampled_from([(1, 1, 1), (3, 4, 5), (2, 7, 64)]),
       p=st.sampled_from([0.0, 0.1, 1.0]))
def test_failed_signals_of_missing_only_kinds_read_as_bools(seed, shape, p):
    """Kinds known to hold no corrupted signal are read as bools: the same failed signals."""
    kind = (np.random.default_rng(seed).random(shape) < p).astype(np.int8)  # MISSING is 1
    fast, plain = FailedSignals.of(kind, missing_only=True), FailedSignals.of(kind)
    for name in ("row", "sender", "weight", "corrupted"):
        assert np.array_equal(getattr(fast, name), getattr(plain, name)), name
    assert (fast.n_rows, fast.shape) == (plain.n_rows, plain.shape)
    assert len(plain.row) == int(kind.sum())
