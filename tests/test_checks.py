"""Each link of the per-trial chain is live: a broken bound is reported, with its trial."""

import dataclasses

import neurosim.runner as runner
from neurosim.data.scenario import parse_scenario
from neurosim.setup import prepare

CRASHES = dict(seed=9, trials=30, network=dict(sizes=[5, 6, 6, 2], activation="tanh"),
               failures=dict(crash=[1, 1]), firing=dict(rule="quorum", quorum=[5, 5, 5]))


def test_given_set_above_weight_aware_is_reported(monkeypatch):
    setup = prepare(parse_scenario(CRASHES))
    monkeypatch.setattr(runner, "weight_aware_bound", lambda *a, **k: 0.0)
    summary = runner.run_trials(setup, "fast")
    details = summary["violation_details"]
    assert summary["violations"] >= summary["trials"] > 0
    assert any("given-set bound above the weight-aware" in d and "trial 0)" in d
               for d in details)


def test_broken_certificate_is_reported():
    auto = dict(CRASHES, firing=dict(rule="quorum", quorum="auto", epsilon=50.0))
    setup = prepare(parse_scenario(auto))
    assert setup.quorum_plan["certified"]
    honest = runner.run_trials(setup, "fast")
    assert honest["violations"] == 0 and honest["certificate_epsilon"] == 50.0
    # The same quorums claimed under a budget below the measured error.
    tiny = honest["max_error"] / 2
    lying = dataclasses.replace(setup, quorum_plan={**setup.quorum_plan, "budget": tiny})
    summary = runner.run_trials(lying, "fast")
    assert summary["violations"] > 0
    assert all("certificate (epsilon) broken" in d for d in summary["violation_details"])
