"""Random failures: the counts' law against exact enumeration, the draws against their
probabilities, identical engines, and the expected-error bound against many trials."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from neurosim.bounds.expected import expected_error_bound
from neurosim.data.counts import Failures
from neurosim.data.network import random_network
from neurosim.data.random_failures import binomial_pmf, missing_distribution
from neurosim.data.scenario import parse_scenario
from neurosim.engines.plan import Planner
from neurosim.runner import run_trials
from neurosim.setup import prepare


def test_binomial_pmf():
    for n, p in [(0, 0.3), (5, 0.0), (5, 1.0), (7, 0.25), (40, 0.9)]:
        want = [math.comb(n, k) * p ** k * (1 - p) ** (n - k) for k in range(n + 1)]
        np.testing.assert_allclose(binomial_pmf(n, p), want, atol=1e-12)


def test_missing_distribution_exact_enumeration():
    """Net 2-3-2-1: every crash pattern of the 3 hidden neurons and every lost-synapse
    pattern into the 2 receivers of layer 2, enumerated with their probabilities."""
    net = random_network([2, 3, 2, 1], "sigmoid", 0.5, np.random.default_rng(0))
    p, q = [0.3, 0.0], [0.0, 0.2, 0.0]
    want = np.zeros(4)
    for crashed in itertools.product([0, 1], repeat=3):
        pc = math.prod(p[0] if c else 1 - p[0] for c in crashed)
        correct = [i for i in range(3) if not crashed[i]]
        for lost in itertools.product([0, 1], repeat=2 * len(correct)):
            pl = math.prod(q[1] if x else 1 - q[1] for x in lost)
            per_receiver = [sum(lost[j * len(correct):(j + 1) * len(correct)])
                            for j in range(2)]
            want[sum(crashed) + max(per_receiver)] += pc * pl
    dists = missing_distribution(net, p, q)
    np.testing.assert_allclose(dists[1], want, atol=1e-12)
    np.testing.assert_allclose(dists[0], [1, 0, 0])  # inputs never crash
    np.testing.assert_allclose(dists[2], [1, 0, 0])  # layer 2 neurons have p = 0


def _scenario(failures, trials=200, sizes=(5, 6, 5, 2), seed=11):
    return parse_scenario({
        "name": "rand", "seed": seed, "trials": trials,
        "network": {"sizes": list(sizes), "activation": "sigmoid", "weight_scale": 1.0},
        "failures": failures,
        # Constant delays and a timeout: every neuron fires with every signal still sent.
        "latency": {"model": "constant", "mean": 1.0},
        "firing": {"rule": "timeout", "timeout": 0.5},
    })


def test_draw_frequencies():
    scn = _scenario({"crash_probability": [0.3, 0.1], "synapse_crash_probability": 0.2},
                    trials=2000)
    setup = prepare(scn)
    planner = Planner(scn, setup.net, setup.inputs)
    crashed = np.zeros(2)
    lost = sent = 0
    for t in range(scn.trials):
        plan = planner.plan(t)
        crashed += [plan.crashed[1].mean(), plan.crashed[2].mean()]
        correct = ~plan.crashed[1]
        lost += plan.lost[1][:, correct].sum()
        sent += plan.lost[1][:, correct].size
        assert not plan.lost[1][:, ~correct].any()  # only synapses of correct senders
    # 2000 trials: standard errors about 0.005 (layer 1) and 0.003 (synapses).
    np.testing.assert_allclose(crashed / scn.trials, [0.3, 0.1], atol=0.025)
    assert lost / sent == pytest.approx(0.2, abs=0.02)


def test_engines_identical(tmp_path):
    scn = _scenario({"crash_probability": 0.2, "synapse_crash_probability": [0.1, 0, 0.1]},
                    trials=60)
    setup = prepare(scn)
    for engine in ("des", "fast"):
        s = run_trials(setup, engine, tmp_path / engine)
        assert s["violations"] == 0
    assert (tmp_path / "des" / "trials.csv").read_text() == \
        (tmp_path / "fast" / "trials.csv").read_text()


@pytest.mark.parametrize("failures,sizes", [
    ({"crash_probability": 0.25}, (5, 8, 7, 2)),
    ({"crash_probability": [0.1, 0.3], "synapse_crash_probability": 0.1}, (4, 7, 8, 3)),
    ({"crash_probability": 0.2, "byzantine": [1, 0]}, (5, 8, 7, 2)),
])
def test_expected_error_bound_holds(failures, sizes):
    """The mean error over many trials is below the expected-error bound, and the bound
    is the mean over the trials' drawn counts of bound(counts), up to sampling error."""
    # A layer whose neurons all crash blocks the trial (no signal starts the timeout);
    # the layers are wide enough for that to be unlikely (< 1e-3 per trial).
    scn = _scenario(failures, trials=800, sizes=sizes)
    setup = prepare(scn)
    s = run_trials(setup, "fast")
    assert s["violations"] == 0 and s["blocked_trials"] == 0
    assert s["trials_beyond_random_counts"] == 0
    assert 0 < s["mean_error"] <= s["expected_error_bound"] <= s["expected_error_bound_paper"]
    assert s["expected_error_bound"] <= s["bound_weight_aware_at_p99_counts"] * 1.5

    # Monte-Carlo estimate of E[bound(declared + R)] from the engine's own draws.
    from neurosim.bounds.weight_aware import weight_aware_bound

    net, base = setup.net, setup.failures
    planner = Planner(scn, net, setup.inputs)
    p = [float(x) for x in np.broadcast_to(failures["crash_probability"], (net.depth,))]
    q = failures.get("synapse_crash_probability", 0.0)
    q = [float(x) for x in np.broadcast_to(q, (net.depth + 1,))]
    values = []
    for t in range(scn.trials):
        plan = planner.plan(t)
        drawn = [0] + [int(plan.crashed[l].sum()) for l in range(1, net.depth + 1)]
        drawn = [d + (int(plan.lost[l].sum(axis=1).max()) if q[l] else 0)
                 for l, d in enumerate(drawn)]
        missing = tuple(m + d for m, d in zip(base.missing, drawn))
        values.append(weight_aware_bound(net, Failures(missing, base.corrupted, base.eta,
                                                       base.capacity)))
    values = np.array(values)
    stderr = values.std() / np.sqrt(len(values))
    exact = expected_error_bound(net, base, missing_distribution(net, p, q),
                                 lambda f: weight_aware_bound(net, f))
    assert exact == pytest.approx(s["expected_error_bound"], rel=1e-12)
    assert abs(values.mean() - exact) <= 4 * stderr + 1e-12


def test_no_random_failures_no_keys():
    s = run_trials(prepare(_scenario({"crash": [1, 0]}, trials=5)), "fast")
    assert "expected_error_bound" not in s and "bits_per_layer" not in s


def test_probability_one_blocks_and_claims_nothing(tmp_path):
    """Every neuron of layer 1 crashes: nothing reaches layer 2, every trial blocks, and
    no expected error is claimed (it is not defined without outputs)."""
    s = run_trials(prepare(_scenario({"crash_probability": [1.0, 0.0]}, trials=5)), "fast",
                   tmp_path)
    assert s["blocked_trials"] == 5 and s["violations"] == 0
    assert s["expected_error_bound"] is None
    assert s["expected_missing"] == [0.0, 6.0, 0.0]
    assert json.loads((tmp_path / "summary.json").read_text())["trials"] == 5


def test_coarsened_sum_is_above_the_exact_one():
    """Grouping counts (wide networks) can only raise the expected bound; with room for
    every count vector it is the exact sum."""
    from neurosim.bounds.weight_aware import weight_aware_bound

    net = random_network([6, 12, 10, 3], "tanh", 0.8, np.random.default_rng(4))
    base = Failures((0, 0, 0), (0, 0, 0), (0.0, 0.0, 0.0))
    dists = missing_distribution(net, [0.3, 0.2], [0.0, 0.05, 0.0])

    def bound(f):
        return weight_aware_bound(net, f)

    exact = expected_error_bound(net, base, dists, bound, max_evaluations=10 ** 6)
    rough = expected_error_bound(net, base, dists, bound, max_evaluations=12)
    assert exact < rough <= bound(Failures((0, 12, 10), (0, 0, 0), (0.0, 0.0, 0.0)))
    # By hand: the exact sum over the two layers' full supports.
    total = sum(p1 * p2 * bound(Failures((0, r1, r2), (0, 0, 0), (0.0, 0.0, 0.0)))
                for r1, p1 in enumerate(dists[1]) for r2, p2 in enumerate(dists[2]))
    assert exact == pytest.approx(total, rel=1e-6)


def test_bound_cli_gives_the_expected_bound_without_simulating(tmp_path, capsys):
    from neurosim.front.cli import main

    path = tmp_path / "r.toml"
    path.write_text('trials = 50\n[network]\nsizes = [5, 8, 7, 2]\n'
                    '[failures]\ncrash_probability = [0.1, 0.3]\n'
                    '[latency]\nmodel = "constant"\n'
                    '[firing]\nrule = "timeout"\ntimeout = 0.5\n')
    assert main(["bound", str(path), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["expected_missing"] == pytest.approx([0.0, 0.8, 2.1])
    assert main(["run", str(path), "--engine", "fast", "--out", str(tmp_path / "o")]) == 0
    capsys.readouterr()
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["expected_error_bound"] == pytest.approx(r["expected_error_bound"], rel=1e-12)
    assert s["mean_error"] <= s["expected_error_bound"]


def test_bounds_computed_once_per_count_vector(monkeypatch):
    """Every trial with crashes goes beyond the declared counts (none): its bounds come
    from a cache keyed by the count vector, so they are computed once per vector."""
    import neurosim.runner as runner

    calls = []
    original = runner.Bounds.of.__func__

    def counting(cls, net, failures, iv):
        calls.append((failures.missing, failures.corrupted))
        return original(cls, net, failures, iv)

    monkeypatch.setattr(runner.Bounds, "of", classmethod(counting))
    s = run_trials(prepare(_scenario({"crash_probability": 0.3}, trials=300)), "fast")
    assert s["violations"] == 0 and s["trials_beyond_counts"] > 250
    assert len(calls) == len(set(calls))  # no vector twice
    assert len(calls) <= 1 + 7 * 6  # declared + one per (0..6 of layer 1, 0..5 of layer 2)
