"""SPEC 5-6: firing times against closed forms, and liveness (blocked runs, quorums, timeouts).

- One layer of n senders firing at 0, exponential(1) latencies, a receiver firing on the
  k-th signal: E[fire time] = H_n - H_{n-k} (the k-th order statistic of n exponentials).
- Constant latency c and processing p with wait-all: layer l fires at exactly l * (c + p).
- Wait-all behind a crash blocks (and the run stops at the horizon); quorum N_{l-1} - 1 and
  timeouts stay live under one crash per layer.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from neurosim.data.network import make_network
from neurosim.data.scenario import parse_scenario
from neurosim.engines.des import Simulation, simulate_des
from neurosim.engines.fast import simulate_fast
from neurosim.engines.plan import FiringRule, Planner
from neurosim.runner import run_trials
from neurosim.setup import prepare

ENGINES = {"des": simulate_des, "fast": simulate_fast}


def harmonic(n: int) -> float:
    return math.fsum(1.0 / i for i in range(1, n + 1))


def _one_layer(n: int, k: int, trials: int, seed: int):
    """sizes [n, 1]: no hidden layer (depth 0), the receiver is the output neuron."""
    scn = parse_scenario({
        "seed": seed, "trials": trials,
        "network": {"sizes": [n, 1]},
        "latency": {"model": "exponential", "mean": 1.0},
        "firing": {"rule": "quorum", "quorum": k},
    })
    setup = prepare(scn)
    assert setup.net.depth == 0 and setup.net.sizes == [n, 1]
    assert setup.quorum == [k]
    return scn, setup, Planner(scn, setup.net, setup.inputs), FiringRule.from_scenario(
        scn, setup.quorum)


def _depth0_network_driven_directly(n: int, k: int, trials: int, seed: int):
    """The same experiment with the network built by hand (make_network, no hidden layer)."""
    net = make_network([np.ones((1, n))], None, [], 0, 1)
    assert net.depth == 0 and net.sizes == [n, 1]
    scn = parse_scenario({"seed": seed, "trials": trials, "network": {"sizes": [n, 1]},
                          "latency": {"model": "exponential"},
                          "firing": {"rule": "quorum", "quorum": k}})
    rule = FiringRule(quorum=[k], timeout=None, timeout_from_start=False, processing=0.0,
                      horizon=1e6)
    return net, Planner(scn, net, np.ones((1, n))), rule


def _check_harmonic(n: int, k: int, trials: int, des_trials: int, seed: int) -> None:
    scn, setup, planner, rule = _one_layer(n, k, trials, seed)
    times = np.empty(trials)
    for t in range(trials):
        plan = planner.plan(t)
        fast = simulate_fast(setup.net, plan, rule)
        times[t] = fast.latency
        if t < des_trials:
            des = simulate_des(setup.net, plan, rule)
            assert des.latency == fast.latency, (n, k, t)
            assert np.array_equal(des.used[0], fast.used[0])
            assert np.array_equal(des.output, fast.output)
            # The receiver fired at the k-th smallest latency and used exactly those k signals.
            lat = plan.latency[0][0]
            assert fast.latency == np.sort(lat)[k - 1]
            assert fast.used[0].sum() == k and lat[fast.used[0][0]].max() == fast.latency
    expected = harmonic(n) - harmonic(n - k)
    se = times.std(ddof=1) / math.sqrt(trials)
    assert abs(times.mean() - expected) < 4 * se, (n, k, times.mean(), expected, se)


@pytest.mark.parametrize("n,k", [(5, 1), (5, 5), (10, 3), (8, 7)])
def test_kth_signal_time_is_harmonic_difference(n, k):
    _check_harmonic(n, k, trials=4000, des_trials=400, seed=1000 + 10 * n + k)


@pytest.mark.slow
@pytest.mark.parametrize("n,k", [(10, 3), (6, 6)])
def test_kth_signal_time_is_harmonic_difference_many_trials(n, k):
    _check_harmonic(n, k, trials=20000, des_trials=2000, seed=77 + n + k)


def test_depth0_network_built_by_hand_fires_on_kth_signal():
    n, k = 7, 4
    net, planner, rule = _depth0_network_driven_directly(n, k, 50, seed=5)
    for t in range(50):
        plan = planner.plan(t)
        for engine in ENGINES.values():
            out = engine(net, plan, rule)
            lat = plan.latency[0][0]
            assert out.latency == np.sort(lat)[k - 1]
            # All weights 1, inputs 1, no bias: the output counts the signals it used.
            assert out.output[0] == k


@pytest.mark.parametrize("engine", sorted(ENGINES))
@pytest.mark.parametrize("c,p", [(0.75, 0.375), (1.0, 0.0), (0.5, 2.25)])
def test_constant_latency_layer_times_exact(engine, c, p):
    sizes = [4, 6, 5, 3]
    L = len(sizes) - 2
    scn = parse_scenario({
        "seed": 2, "trials": 5, "network": {"sizes": sizes, "activation": "tanh"},
        "latency": {"model": "constant", "mean": c, "processing": p},
        "firing": {"rule": "wait-all"},
    })
    setup = prepare(scn)
    planner = Planner(scn, setup.net, setup.inputs)
    rule = FiringRule.from_scenario(scn, setup.quorum)
    for t in range(scn.trials):
        out = ENGINES[engine](setup.net, planner.plan(t), rule)
        assert np.array_equal(out.fire_time[0], np.zeros(sizes[0]))
        for l in range(1, L + 2):
            assert np.all(out.fire_time[l] == l * (c + p)), (l, out.fire_time[l])
        assert out.latency == (L + 1) * c + (L + 1) * p
        assert out.layer_latency() == [l * (c + p) for l in range(1, L + 2)]
        assert np.array_equal(out.output, setup.net.forward(setup.inputs)[t])
    summary = run_trials(setup, engine)
    assert summary["layer_latency_mean"] == [l * (c + p) for l in range(1, L + 2)]
    assert summary["latency_mean"] == summary["latency_p50"] == (L + 1) * (c + p)


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_constant_latency_non_dyadic_close(engine):
    c, p, sizes = 0.1, 0.3, [3, 4, 4, 2]
    scn = parse_scenario({"seed": 0, "trials": 2, "network": {"sizes": sizes},
                          "latency": {"model": "constant", "mean": c, "processing": p}})
    setup = prepare(scn)
    out = ENGINES[engine](setup.net, Planner(scn, setup.net, setup.inputs).plan(0),
                          FiringRule.from_scenario(scn, None))
    np.testing.assert_allclose(out.layer_latency(), [l * (c + p) for l in (1, 2, 3)],
                               rtol=1e-14)


SIZES = [4, 6, 5, 3]


def _crash_scenario(rule: dict, engine_trials: int = 30, latency=None, **extra) -> dict:
    return {
        "seed": 9, "trials": engine_trials,
        "network": {"sizes": SIZES, "activation": "sigmoid"},
        "failures": {"crash": 1, **extra},
        "latency": latency or {"model": "exponential", "mean": 1.0},
        "firing": rule,
    }


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_wait_all_behind_a_crash_blocks_until_the_horizon(engine):
    horizon = 50.0
    scn = parse_scenario(_crash_scenario({"rule": "wait-all", "horizon": horizon}))
    setup = prepare(scn)
    planner = Planner(scn, setup.net, setup.inputs)
    rule = FiringRule.from_scenario(scn, setup.quorum)
    for t in range(scn.trials):
        plan = planner.plan(t)
        assert [int(c.sum()) for c in plan.crashed] == [0, 1, 1, 0]
        out = ENGINES[engine](setup.net, plan, rule)
        assert out.blocked
        assert np.all(np.isnan(out.output)) and out.latency == math.inf
        # Layer 1 hears all the inputs: all but the crashed neuron fire; layer 2 waits forever.
        assert np.isfinite(out.fire_time[1]).sum() == SIZES[1] - 1
        assert np.all(np.isinf(out.fire_time[2])) and np.all(np.isinf(out.fire_time[3]))
        assert not out.used[1].any() and not out.used[2].any()
    summary = run_trials(setup, engine)
    assert summary["blocked_trials"] == summary["trials"] == scn.trials
    assert summary["latency_mean"] is None and summary["max_error"] is None


def test_blocked_des_run_stops_at_the_horizon_not_later():
    """The event queue holds the waiting neurons; the clock stops at the horizon, promptly."""
    for horizon in (7.5, 1e9):
        scn = parse_scenario(_crash_scenario({"rule": "wait-all", "horizon": horizon}, 3))
        setup = prepare(scn)
        plan = Planner(scn, setup.net, setup.inputs).plan(0)
        sim = Simulation(setup.net, plan, FiringRule.from_scenario(scn, None))
        started = time.perf_counter()
        out = sim.run()
        assert time.perf_counter() - started < 5.0
        assert sim.env.now <= horizon
        assert out.blocked


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_quorum_one_short_is_live_under_one_crash_per_layer(engine):
    quorum = [n - 1 for n in SIZES[:-1]]
    scn = parse_scenario(_crash_scenario({"rule": "quorum", "quorum": quorum}, 200,
                                         latency={"model": "lognormal", "sigma": 1.0}))
    setup = prepare(scn)
    assert setup.quorum == quorum
    planner = Planner(scn, setup.net, setup.inputs)
    rule = FiringRule.from_scenario(scn, setup.quorum)
    for t in range(scn.trials):
        out = ENGINES[engine](setup.net, planner.plan(t), rule)
        assert not out.blocked and np.all(np.isfinite(out.output))
        plan = planner.plan(t)
        for l in range(1, len(SIZES)):
            alive = ~plan.crashed[l]
            assert np.all(out.used[l - 1][alive].sum(1) == quorum[l - 1])
            assert not out.used[l - 1][~alive].any() and np.all(np.isinf(out.fire_time[l][~alive]))
    summary = run_trials(setup, engine)
    assert summary["blocked_trials"] == 0 and summary["violations"] == 0


@pytest.mark.parametrize("engine", sorted(ENGINES))
@pytest.mark.parametrize("timeout_from", ["first", "start"])
def test_timeout_completes_under_crashes(engine, timeout_from):
    T = 2.0
    scn = parse_scenario(_crash_scenario(
        {"rule": "timeout", "timeout": T, "timeout_from": timeout_from}, 60))
    setup = prepare(scn)
    planner = Planner(scn, setup.net, setup.inputs)
    rule = FiringRule.from_scenario(scn, setup.quorum)
    for t in range(scn.trials):
        plan = planner.plan(t)
        out = ENGINES[engine](setup.net, plan, rule)
        assert not out.blocked and np.all(np.isfinite(out.output))
        # Layer 2 misses the crashed neuron of layer 1, so every receiver fires at its deadline.
        arrival = out.fire_time[1][None, :] + plan.latency[1]
        start = arrival.min(1) if timeout_from == "first" else np.zeros(SIZES[2])
        alive = ~plan.crashed[2]
        assert np.array_equal(out.fire_time[2][alive], (start + T)[alive])
        assert np.all(np.isinf(out.fire_time[2][~alive]))
        assert np.array_equal(out.used[1], (arrival <= (start + T)[:, None]) & alive[:, None])
        assert not out.used[1][:, plan.crashed[1]].any()
    summary = run_trials(setup, engine)
    assert summary["blocked_trials"] == 0 and summary["violations"] == 0


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_quorum_or_timeout_completes_under_crashes(engine):
    quorum = list(SIZES[:-1])  # the quorum alone is wait-all: the timeout must rescue it
    scn = parse_scenario(_crash_scenario({"rule": "quorum-or-timeout", "quorum": quorum,
                                          "timeout": 1.5}, 40))
    summary = run_trials(prepare(scn), engine)
    assert summary["blocked_trials"] == 0 and summary["violations"] == 0
