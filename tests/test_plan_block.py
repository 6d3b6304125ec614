"""A block's plan drawn at once is the trials' own plans stacked, and each trial's Generator
is numpy's SeedSequence(seed, spawn_key=(trial,)) with PCG64, whatever made it."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from neurosim.data.scenario import parse_scenario
from neurosim.engines.block import plan_block, stack_plans
from neurosim.engines.plan import Planner, TrialStreams
from neurosim.runner import run_trials
from neurosim.setup import prepare

FIELDS = ("crashed", "byzantine", "lost", "replaced", "value", "weights", "latency")


@pytest.mark.parametrize("seed", [0, 11, 2**32 - 1, 2**32, 2**64 + 5, 2**128 + 3, 10**40])
def test_trial_streams_are_numpys_seed_sequence(seed):
    """The states come from numpy itself: SeedSequence -> PCG64, and its first draws."""
    trials = [0, 1, 2, 9, 1000, 2**31, 2**32 - 1, 2**32, 2**40]
    for trial, rng in zip(trials, TrialStreams(seed).generators(trials), strict=True):
        ref = np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(trial,)))
        assert rng.bit_generator.state == ref.state, (seed, trial)
        assert np.array_equal(rng.random(4), np.random.Generator(ref).random(4))


def test_trial_streams_fall_back_to_numpy_when_its_seeding_differs(monkeypatch):
    """Should numpy ever seed otherwise than the arithmetic copied here, numpy wins."""
    assert TrialStreams(7).exact
    monkeypatch.setattr(TrialStreams, "_mixed_states",
                        lambda self, trials: [(1, 3) for _ in trials])
    streams = TrialStreams(7)
    assert not streams.exact
    for trial, rng in zip([0, 5], streams.generators([0, 5]), strict=True):
        ref = np.random.PCG64(np.random.SeedSequence(7, spawn_key=(trial,)))
        assert rng.bit_generator.state == ref.state


def _scenario(model: dict, **failures) -> dict:
    return {"seed": 3, "trials": 9, "network": {"sizes": [5, 6, 4, 3]},
            "failures": failures, "latency": model,
            "firing": {"rule": "quorum", "quorum": [4, 5, 3]}}


MODELS = [{"model": "constant", "mean": 1.0}, {"model": "uniform", "mean": 1.0},
          {"model": "exponential"}, {"model": "exponential", "mean": 2.7},
          {"model": "lognormal", "sigma": 1.0},
          {"model": "pareto", "alpha": 1.5}, {"model": "empirical", "file": "delays.npy"}]


@pytest.mark.parametrize("model", MODELS, ids=[f"{m['model']}-{m.get('mean', 1)}"
                                               for m in MODELS])
@pytest.mark.parametrize("failures", [{}, {"placement": "list", "crashed": [[1, 2]]}],
                         ids=["none", "listed"])
@pytest.mark.parametrize("one_call,staged", [(65536, 32), (65536, 3), (0, 32)],
                         ids=["one-call", "one-call-staged-by-3", "per-layer"])
def test_block_of_delays_is_the_trials_plans(tmp_path, monkeypatch, model, failures,
                                             one_call, staged):
    """Trials that draw only their delays get them in one pass per block: the same arrays
    as their own plans (per layer draws for empirical delays and large networks, one draw
    a trial for the others, a few trials at a time: 7 trials by 3 ends mid-stage)."""
    monkeypatch.setattr("neurosim.engines.plan.ONE_CALL_DELAYS", one_call)
    monkeypatch.setattr("neurosim.engines.plan.STAGED", staged)
    np.save(tmp_path / "delays.npy", np.array([0.5, 1.0, 1.5, 4.0, 0.25]))
    scn = parse_scenario(_scenario(model, **failures), source=str(tmp_path / "s.toml"),
                         base_dir=str(tmp_path))
    setup = prepare(scn)
    planner = Planner(scn, setup.net, setup.inputs)
    assert planner.latencies_only
    trials = range(2, 9)
    bp = plan_block(planner, trials)
    ref = stack_plans([Planner(scn, setup.net, setup.inputs).plan(t) for t in trials])
    assert list(bp.trials) == list(trials)
    assert np.array_equal(bp.input_index, ref.input_index)
    assert np.array_equal(bp.x, ref.x)
    for b in range(len(trials)):
        mine, theirs = bp.trial_plan(b), ref.trial_plan(b)
        assert mine.crash_time == theirs.crash_time
        for name in FIELDS:
            for a, c in zip(getattr(mine, name), getattr(theirs, name), strict=True):
                assert a.shape == c.shape and np.array_equal(a, c), (name, b)


def test_runs_with_delays_only_agree_between_engines():
    """A quorum under Pareto delays, nothing failing (the fast path of the block plan):
    trials.csv of the SimPy engine and of the batched one, in blocks, byte for byte."""
    scn = parse_scenario({"seed": 8, "trials": 11, "network": {"sizes": [6, 7, 5, 3]},
                          "latency": {"model": "pareto", "alpha": 1.5},
                          "firing": {"rule": "quorum", "quorum": [4, 5, 3]}})
    setup = prepare(scn)
    with tempfile.TemporaryDirectory() as tmp:
        run_trials(setup, "des", Path(tmp) / "des")
        for block in (1, 4, None):
            run_trials(setup, "fast", Path(tmp) / "fast", block=block)
            assert (Path(tmp) / "fast" / "trials.csv").read_bytes() == \
                (Path(tmp) / "des" / "trials.csv").read_bytes(), block
