"""The memory a run takes stays within what its block sizes were chosen for.

The block sizes (`block_size`, `joined_size`) keep the chunk being simulated and the
joined block each within BLOCK_BYTES; the previous joined block is still held while
the next one is simulated, so a run's arrays should never pass three times that.
Measured with tracemalloc (numpy reports its buffers to it), against a budget made
small so that a few dozen trials of a small network reach it.
"""

from __future__ import annotations

import tracemalloc

import pytest

from neurosim import runner
from neurosim.data.scenario import parse_scenario
from neurosim.engines.memory import drawn_synapses
from neurosim.setup import prepare

BUDGET = 8 * 2**20


@pytest.mark.parametrize("failures", [
    {},
    {"crash": 2},
    {"precision": 0.01},  # every trial stores its own weights, W +- eta
    {"precision": [0.0, 0.0, 0.01]},
    {"byzantine": 1, "byzantine_mode": "random"},  # every trial draws its values
    {"synapse_crash": 2, "precision": 0.01, "byzantine": 1, "byzantine_mode": "random"},
], ids=["none", "crash", "eta", "eta-last-layer", "random-values", "all"])
def test_peak_memory_within_the_block_budget(monkeypatch, failures):
    monkeypatch.setattr(runner, "BLOCK_BYTES", BUDGET)
    scn = parse_scenario({"name": "memory", "trials": 64, "seed": 3,
                          "network": {"sizes": [300, 120, 60, 10]}, "failures": failures})
    setup = prepare(scn)
    # Once before measuring: the engine's kernels are compiled on their first call, and
    # what the compiler allocates is not the run's arrays.
    runner.run_trials(prepare(scn.model_copy(update={"trials": 2})), "fast", None)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        summary = runner.run_trials(setup, "fast", None)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert summary["trials"] == 64 and summary["violations"] == 0
    # Three blocks' budgets, and 1 MiB for what is not per trial (fault-free values, ...).
    assert peak <= 3 * BUDGET + 2**20, f"{peak / 2**20:.1f} MiB traced"


def test_drawn_synapses_counts_what_each_trial_draws():
    net = prepare(parse_scenario({"name": "m", "network": {"sizes": [5, 4, 3, 2]}})).net
    scn = parse_scenario({"name": "m", "network": {"sizes": [5, 4, 3, 2]},
                          "failures": {"precision": [0.0, 0.1, 0.0]}})
    assert drawn_synapses(scn, net) == 4 * 3  # W2 only
    scn = parse_scenario({"name": "m", "network": {"sizes": [5, 4, 3, 2]},
                          "failures": {"byzantine": 1, "byzantine_mode": "random"}})
    assert drawn_synapses(scn, net) == 5 * 4 + 4 * 3 + 3 * 2


@pytest.mark.parametrize("failures, key", [
    ({"precision": 0.01}, "failures.precision"),
    ({"byzantine": 1, "byzantine_mode": "random"}, "failures.byzantine_mode"),
    ({}, None),
])
def test_a_trial_too_large_is_refused_before_it_runs(monkeypatch, failures, key):
    # 20-20-1: 420 synapses, about 17 kB a trial at 40 B each; a float64 drawn per
    # synapse and trial (W +- eta, random Byzantine values) adds 16 B each.
    from neurosim.engines import memory
    from neurosim.errors import InputError

    monkeypatch.setattr(memory, "MAX_TRIAL_BYTES", 20_000)
    scn = parse_scenario({"name": "m", "network": {"sizes": [20, 20, 1]},
                          "failures": failures}, source="big.toml")
    if key is None:
        prepare(scn)
        return
    with pytest.raises(InputError) as err:
        prepare(scn)
    assert err.value.source == "big.toml" and err.value.key == key
    assert "one trial" in err.value.message and "GiB" in err.value.message


@pytest.mark.parametrize("kind", ["corner", "uniform"])
def test_more_trials_than_the_summary_can_hold_are_refused(kind):
    from neurosim.errors import InputError

    # 2-3-1 (L = 1): 64 bytes of summary per trial; corner inputs take no memory per
    # trial, so nothing refused 2**63 - 1 of them.
    scn = parse_scenario({"name": "m", "trials": 2**63 - 1, "network": {"sizes": [2, 3, 1]},
                          "inputs": {"kind": kind}}, source="many.toml")
    with pytest.raises(InputError) as err:
        prepare(scn)
    assert err.value.source == "many.toml" and err.value.key == "trials"
    assert "GiB" in err.value.message
    # a million trials are fine
    scn = parse_scenario({"name": "m", "trials": 10**6, "network": {"sizes": [2, 3, 1]},
                          "inputs": {"kind": "corner"}})
    prepare(scn)
