"""Fuzz: random small scenarios of every kind, each trial checked against its bound, both engines.

Hypothesis draws a small network (every activation, weight scale, input box) and a scenario
(crashed, Byzantine, late-crashing neurons; lost, Byzantine and slow synapses; weight
precision; every firing rule, fixed or automatic quorums, both allocations and certifiers,
every latency model, every placement and Byzantine mode). The runner checks every trial:
measured error <= given-set <= weight-aware <= paper for the counts that cover the trial, and
measured <= epsilon under a certified quorum. Both engines must report no violation and
produce the same rows. The example budget is small so that it runs in seconds in CI; raise
NEUROSIM_FUZZ_EXAMPLES to search longer.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import without_unread

from neurosim.data.scenario import parse_scenario
from neurosim.errors import InputError
from neurosim.runner import run_trials
from neurosim.setup import prepare

ACTS = ["sigmoid", "tanh", "relu", "identity", "hard_sigmoid"]
EXAMPLES = int(os.environ.get("NEUROSIM_FUZZ_EXAMPLES", "60"))


@st.composite
def scenarios(draw) -> dict:
    sizes = [draw(st.integers(1, 4))] + draw(st.lists(st.integers(2, 5), min_size=1,
                                                      max_size=3)) + [draw(st.integers(1, 3))]
    L = len(sizes) - 2
    per_hidden = lambda cap: [draw(st.integers(0, cap(n))) for n in sizes[1:-1]]  # noqa: E731
    crash = per_hidden(lambda n: n // 2)
    byz = [draw(st.integers(0, (n - c) // 2)) for n, c in zip(sizes[1:-1], crash)]
    failures = {"crash": crash, "byzantine": byz,
                "capacity": draw(st.sampled_from([0.0, 0.5, 1.0, 3.0])),
                "byzantine_mode": draw(st.sampled_from(["adversarial", "random", "constant"])),
                "placement": draw(st.sampled_from(["random", "worst"]))}
    if draw(st.booleans()):
        failures["synapse_crash"] = draw(st.integers(0, 1))
        failures["synapse_byzantine"] = draw(st.integers(0, 1))
    if draw(st.booleans()):
        failures["precision"] = draw(st.sampled_from([0.01, 0.1]))
    if draw(st.booleans()):
        failures["stragglers"] = [draw(st.integers(0, 1)) for _ in range(L)]
    if draw(st.booleans()):
        failures["crash_time"] = draw(st.sampled_from([0.5, 2.0]))
    if draw(st.booleans()):
        failures["bits"] = draw(st.sampled_from([2, 3, 8]))
    if draw(st.booleans()):  # random failures instead of counts
        failures["crash"] = 0
        failures["crash_probability"] = draw(st.sampled_from([0.2, 0.5]))
        failures["synapse_crash"] = 0
        failures["synapse_crash_probability"] = draw(st.sampled_from([0.0, 0.2]))
    latency = draw(st.sampled_from([
        {"model": "constant"}, {"model": "exponential"}, {"model": "uniform", "mean": 1.0},
        {"model": "lognormal", "sigma": 1.0}, {"model": "pareto", "alpha": 1.5}]))
    kind = draw(st.sampled_from(["wait-all", "quorum", "auto", "auto", "auto", "timeout",
                                 "quorum-or-timeout"]))
    rule = "quorum" if kind == "auto" else kind
    firing: dict = {"rule": rule, "horizon": 200.0}
    if "timeout" in rule:
        firing["timeout"] = draw(st.sampled_from([0.5, 2.0, 10.0]))
        firing["timeout_from"] = draw(st.sampled_from(["first", "start"]))
    if "quorum" in rule:
        if kind == "auto":
            firing.update(quorum="auto",
                          epsilon=draw(st.sampled_from([0.05, 0.5, 2.0, 5.0, 10.0, 50.0])),
                          allocation=draw(st.sampled_from(["greedy", "equal"])),
                          certify=draw(st.sampled_from(["weight_aware", "paper"])))
        else:
            firing["quorum"] = [draw(st.integers(max(1, n - 2), n)) for n in sizes[:-1]]
    return {"seed": draw(st.integers(0, 10**6)), "trials": 6,
            "network": {"sizes": sizes, "activation": [draw(st.sampled_from(ACTS))
                                                       for _ in range(L)],
                        "weight_scale": draw(st.sampled_from([0.3, 1.0, 3.0]))},
            "inputs": {"kind": draw(st.sampled_from(["uniform", "corner"]))},
            "failures": without_unread(failures), "latency": latency,
            "firing": firing}


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_every_trial_within_its_bound(data):
    try:
        setup = prepare(parse_scenario(data))
    except InputError:
        return  # a count that does not fit the layer: refused, as it should be
    results = {engine: run_trials(setup, engine) for engine in ("des", "fast")}
    for engine, summary in results.items():
        assert summary["violations"] == 0, (engine, data, summary["violation_details"])
    des, fast = results["des"], results["fast"]
    for key in ("max_error", "mean_error", "blocked_trials", "messages_used",
                "trials_beyond_counts"):
        assert des[key] == fast[key], (key, data)
