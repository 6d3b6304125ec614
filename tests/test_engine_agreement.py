"""The SimPy engine and the vectorised one run the same trial to the same outcome, and
message counts add up, over random scenarios with every kind of failure (SPEC 5).

Scenarios are drawn as the dicts a TOML file parses to, so the whole path
parse_scenario -> prepare -> Planner -> engine is exercised.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import without_unread

from neurosim.data.scenario import parse_scenario
from neurosim.engines.block import simulate_block, stack_plans
from neurosim.engines.des import simulate_des
from neurosim.engines.fast import simulate_fast
from neurosim.engines.plan import FiringRule, Planner
from neurosim.setup import prepare

ACTIVATIONS = ["sigmoid", "tanh", "relu", "identity", "hard_sigmoid"]
TRIALS = 3


@st.composite
def latencies(draw) -> dict:
    # Constant delays make ties and events landing exactly on a deadline or the horizon.
    model = draw(st.sampled_from(["constant", "constant", "uniform", "exponential", "lognormal",
                                  "pareto"]))
    spec: dict = {"model": model, "mean": draw(st.sampled_from([0.5, 1.0, 2.5]))}
    if model == "lognormal":
        spec["sigma"] = draw(st.sampled_from([0.25, 1.0, 2.0]))
    if model == "pareto":
        spec["alpha"] = draw(st.sampled_from([1.1, 1.5, 3.0]))
    if model == "uniform" and draw(st.booleans()):
        del spec["mean"]
        spec["low"], spec["high"] = 0.5, draw(st.sampled_from([0.75, 2.0, 5.0]))
    spec["processing"] = draw(st.sampled_from([0.0, 0.0, 0.25, 0.5, 0.3]))
    return spec


@st.composite
def scenarios(draw) -> dict:
    depth = draw(st.integers(0, 3))
    sizes = ([draw(st.integers(1, 6))] + [draw(st.integers(1, 7)) for _ in range(depth)]
             + [draw(st.integers(1, 3))])
    n_in = sizes[:-1]  # senders into layers 1..L+1
    # Neuron failures per hidden layer (crashed and Byzantine are disjoint).
    crash, byz = [], []
    for n in sizes[1:-1]:
        c = min(n, draw(st.sampled_from([0, 0, 1, 2])))
        crash.append(c)
        byz.append(draw(st.integers(0, min(1, n - c))))
    # Synapse failures per receiving layer, within what each receiver can hear.
    syn_crash, syn_byz = [], []
    for l, n in enumerate(n_in, start=1):
        faulty = (crash[l - 2] + byz[l - 2]) if l >= 2 else 0
        sc = draw(st.integers(0, min(2, n - faulty)))
        syn_crash.append(sc)
        syn_byz.append(draw(st.integers(0, min(1, n - faulty - sc))))
    failures = {
        "crash": crash, "byzantine": byz, "synapse_crash": syn_crash,
        "synapse_byzantine": syn_byz,
        "stragglers": [draw(st.integers(0, min(2, n))) for n in sizes[1:-1]],
        "synapse_stragglers": [draw(st.integers(0, min(1, n))) for n in n_in],
        "straggler_factor": draw(st.sampled_from([1.0, 4.0, 10.0])),
        "byzantine_mode": draw(st.sampled_from(["random", "adversarial", "constant"])),
        "capacity": draw(st.sampled_from([0.5, 1.0, 3.0])),
        "placement": draw(st.sampled_from(["random", "worst"])),
    }
    if draw(st.booleans()):
        failures["precision"] = draw(st.sampled_from([0.0, 0.01, 0.1]))
    if draw(st.booleans()):
        failures["crash_time"] = draw(st.sampled_from([0.0, 0.5, 1.2, 1.5, 2.75, 4.0]))
    if draw(st.booleans()):
        failures["bits"] = draw(st.sampled_from([2, 3, 8, 16]))
    if draw(st.booleans()):  # random failures instead of counts
        failures["crash"] = [0] * len(crash)
        failures["synapse_crash"] = 0
        failures["crash_probability"] = draw(st.sampled_from([0.0, 0.2, 0.5]))
        failures["synapse_crash_probability"] = draw(st.sampled_from([0.0, 0.1, 0.3]))
    rule = draw(st.sampled_from(["wait-all", "quorum", "timeout", "quorum-or-timeout"]))
    firing: dict = {"rule": rule,
                    "horizon": draw(st.sampled_from([1000.0, 1000.0, 6.0, 2.5, 2.0]))}
    if "quorum" in rule:
        # A quorum may skip signals, but not so many that, with the corrupted ones, a
        # receiver could miss more than it hears (setup refuses that: k >= corrupted).
        corrupted = [(byz[l - 2] if l >= 2 else 0) + syn_byz[l - 1]
                     for l in range(1, len(n_in) + 1)]
        firing["quorum"] = [draw(st.integers(max(1, z), n)) for z, n in zip(corrupted, n_in)]
    if "timeout" in rule:
        firing["timeout"] = draw(st.sampled_from([0.2, 1.0, 1.5, 3.0]))
        firing["timeout_from"] = draw(st.sampled_from(["first", "start"]))
    return {
        "seed": draw(st.integers(0, 2**32 - 1)),
        "trials": TRIALS,
        "network": {"sizes": sizes, "activation": draw(st.sampled_from(ACTIVATIONS)),
                    "weight_scale": draw(st.sampled_from([0.5, 2.0]))},
        "failures": without_unread(failures),
        "latency": draw(latencies()),
        "firing": firing,
    }


def _independent_counts(plan, out, horizon: float) -> dict[str, int]:
    """Message counts recomputed from the plan and the firing times alone."""
    sent = lost = received = in_flight = used = 0
    for l in range(1, len(out.fire_time)):
        fired = np.isfinite(out.fire_time[l - 1])
        n_recv = len(out.fire_time[l])
        sent += int(fired.sum()) * n_recv
        lost_l = plan.lost[l - 1] & fired[None, :]
        lost += int(lost_l.sum())
        arrival = out.fire_time[l - 1][None, :] + plan.latency[l - 1]
        travelling = fired[None, :] & ~lost_l
        received += int((travelling & (arrival < horizon)).sum())
        in_flight += int((travelling & (arrival >= horizon)).sum())
        used += int(out.used[l - 1].sum())
    return dict(sent=sent, received=received, lost=lost, in_flight=in_flight, used=used,
                wasted=received - used)


def _check_outcome_semantics(plan, out, rule: FiringRule) -> None:
    """What any correct engine's outcome satisfies, whatever the timing."""
    L1 = len(out.fire_time) - 1
    assert np.array_equal(out.fire_time[0], np.zeros(len(plan.x)))
    for l in range(1, L1 + 1):
        t = out.fire_time[l]
        used = out.used[l - 1]
        fired = np.isfinite(t)
        assert np.all(t[fired] < rule.horizon)
        assert not used[~fired].any()
        # A neuron that crashed from time 0 never fires; none fires before its rule could hold.
        if plan.crash_time <= 0:
            assert not fired[plan.crashed[l]].any()
        else:
            assert np.all(t[plan.crashed[l] & fired] < plan.crash_time)
        arrival = out.fire_time[l - 1][None, :] + plan.latency[l - 1]
        arrival[plan.lost[l - 1]] = np.inf
        # Only signals that arrived (not lost, sender fired) by the firing time are used.
        assert np.all(np.isfinite(arrival[used]))
        assert np.all((arrival <= t[:, None])[used])
        n = used.shape[1]
        k = n if rule.quorum is None else rule.quorum[l - 1]
        assert np.all(used.sum(1) <= k)
        if rule.timeout is None:
            # Quorum / wait-all only: exactly k signals, the k earliest (ties by sender index).
            assert np.all(used[fired].sum(1) == k)
            for j in np.flatnonzero(fired):
                first_k = np.argsort(arrival[j], kind="stable")[:k]
                assert set(np.flatnonzero(used[j])) == set(first_k)
        if l == L1:
            assert np.array_equal(np.isnan(out.output), ~fired)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=scenarios())
def test_des_and_fast_engines_agree_and_messages_add_up(data):
    scn = parse_scenario(data)
    setup = prepare(scn)
    assert setup.net.sizes == data["network"]["sizes"]
    planner = Planner(scn, setup.net, setup.inputs)
    rule = FiringRule.from_scenario(scn, setup.quorum)
    for trial in range(scn.trials):
        plan = planner.plan(trial)
        des = simulate_des(setup.net, plan, rule)
        fast = simulate_fast(setup.net, plan, rule)
        for name, out in (("des", des), ("fast", fast)):
            m = out.messages
            assert m["sent"] == m["received"] + m["lost"] + m["in_flight"], (name, m)
            assert m["used"] + m["wasted"] == m["received"], (name, m)
            assert min(m.values()) >= 0, (name, m)
            assert m == _independent_counts(plan, out, rule.horizon), (name, m)
            _check_outcome_semantics(plan, out, rule)
        assert des.messages == fast.messages
        assert np.array_equal(des.output, fast.output, equal_nan=True), (des.output, fast.output)
        assert len(des.fire_time) == len(fast.fire_time)
        for a, b in zip(des.fire_time, fast.fire_time):
            assert np.array_equal(a, b), (a, b)
        for a, b in zip(des.used, fast.used):
            assert np.array_equal(a, b)
        assert des.blocked == fast.blocked
        assert des.layer_latency() == fast.layer_latency() or np.array_equal(
            des.layer_latency(), fast.layer_latency(), equal_nan=True)


def test_same_plan_twice_same_outcome():
    """Plans are pure functions of (seed, trial): drawing them again changes nothing."""
    data = {"seed": 5, "trials": 4, "network": {"sizes": [4, 5, 3]},
            "failures": {"crash": 1, "synapse_byzantine": 1, "stragglers": 1},
            "latency": {"model": "lognormal"},
            "firing": {"rule": "quorum", "quorum": [3, 4]}}
    scn = parse_scenario(data)
    setup = prepare(scn)
    rule = FiringRule.from_scenario(scn, setup.quorum)
    a = [simulate_des(setup.net, Planner(scn, setup.net, setup.inputs).plan(t), rule)
         for t in range(4)]
    b = [simulate_des(setup.net, Planner(scn, setup.net, setup.inputs).plan(t), rule)
         for t in reversed(range(4))][::-1]
    for x, y in zip(a, b):
        assert np.array_equal(x.output, y.output, equal_nan=True)
        assert x.messages == y.messages


def _run_both(data: dict):
    scn = parse_scenario(data)
    setup = prepare(scn)
    plan = Planner(scn, setup.net, setup.inputs).plan(0)
    rule = FiringRule.from_scenario(scn, setup.quorum)
    des, fast = simulate_des(setup.net, plan, rule), simulate_fast(setup.net, plan, rule)
    for a, b in zip(des.fire_time, fast.fire_time):
        assert np.array_equal(a, b)
    for a, b in zip(des.used, fast.used):
        assert np.array_equal(a, b)
    assert des.messages == fast.messages
    assert np.array_equal(des.output, fast.output, equal_nan=True)
    return plan, des


def _edge(sizes, latency=1.0, processing=0.0, firing=None, **failures) -> dict:
    return {"seed": 1, "trials": 1, "network": {"sizes": sizes},
            "failures": failures,
            "latency": {"model": "constant", "mean": latency, "processing": processing},
            "firing": firing or {"rule": "wait-all"}}


def test_crash_time_falls_during_processing():
    """Rule holds at 1.0, processing ends at 1.5, crash at 1.2: the neuron never sends."""
    plan, out = _run_both(_edge([3, 4, 2], processing=0.5, crash=1, crash_time=1.2))
    dead = plan.crashed[1]
    assert dead.sum() == 1
    assert np.all(np.isinf(out.fire_time[1][dead])) and np.all(out.fire_time[1][~dead] == 1.5)
    assert out.blocked  # the outputs wait for all four
    assert out.messages == dict(sent=18, received=18, lost=0, in_flight=0, used=9, wasted=9)


def test_crash_time_after_firing_changes_nothing():
    plan, out = _run_both(_edge([3, 4, 2], processing=0.5, crash=1, crash_time=3.5))
    assert plan.crashed[1].sum() == 1
    assert [list(t) for t in out.fire_time] == [[0.0] * 3, [1.5] * 4, [3.0] * 2]
    assert out.messages == dict(sent=20, received=20, lost=0, in_flight=0, used=20, wasted=0)


def test_messages_landing_on_the_horizon_are_in_flight():
    _, out = _run_both(_edge([3, 4, 2], firing={"rule": "wait-all", "horizon": 2.0}))
    assert list(out.fire_time[1]) == [1.0] * 4 and out.blocked
    assert out.messages == dict(sent=20, received=12, lost=0, in_flight=8, used=12, wasted=0)
    _, out = _run_both(_edge([3, 4, 2], firing={"rule": "wait-all", "horizon": 2.0000001}))
    assert list(out.fire_time[2]) == [2.0, 2.0] and not out.blocked


def test_quorum_ties_go_by_sender_index():
    _, out = _run_both(_edge([5, 3, 2], firing={"rule": "quorum", "quorum": [2, 3]}))
    assert np.array_equal(out.used[0], np.tile([True, True, False, False, False], (3, 1)))
    assert out.used[1].all()
    assert out.messages["wasted"] == 9


def test_signal_landing_on_the_deadline_is_used():
    _, out = _run_both(_edge([3, 4, 2], firing={"rule": "timeout", "timeout": 1.0,
                                               "timeout_from": "start"}))
    assert list(out.fire_time[1]) == [1.0] * 4 and out.used[0].all()
    # "from start" is one deadline for every layer: the outputs fire at 1.0 on nothing.
    assert list(out.fire_time[2]) == [1.0] * 2 and not out.used[1].any()


def test_timeout_from_start_fires_with_nothing_on_time():
    """Deadline 0.5 from time 0 with delays 1: every layer fires at 0.5 on its biases alone."""
    data = _edge([3, 4, 2], firing={"rule": "timeout", "timeout": 0.5, "timeout_from": "start"})
    plan, out = _run_both(data)
    assert list(out.fire_time[1]) == [0.5] * 4 and not out.used[0].any()
    assert list(out.fire_time[2]) == [0.5] * 2 and not out.used[1].any()
    # Nothing used: the output is its bias, bit for bit.
    assert np.array_equal(out.output, prepare(parse_scenario(data)).net.biases[-1])


def test_zero_delays_agree(tmp_path):
    """Empirical delays that are often exactly 0: messages land in the instant they are sent."""
    np.save(tmp_path / "delays.npy", np.array([0.0, 0.0, 0.5, 1.0]))
    for seed in range(12):
        rule = [{"rule": "quorum", "quorum": [2, 1, 2]},
                {"rule": "quorum-or-timeout", "quorum": [3, 2, 1], "timeout": 0.5},
                {"rule": "timeout", "timeout": 0.5, "timeout_from": "first"},
                {"rule": "wait-all"}][seed % 4]
        data = {"seed": seed, "trials": 1, "network": {"sizes": [3, 4, 3, 2]},
                "failures": {"synapse_crash": [1, 0, 1], "crash": [1, 0]},
                "latency": {"model": "empirical", "file": "delays.npy"}, "firing": rule}
        scn = parse_scenario(data, source=str(tmp_path / "s.toml"), base_dir=str(tmp_path))
        setup = prepare(scn)
        plan = Planner(scn, setup.net, setup.inputs).plan(0)
        assert (plan.latency[0] == 0).any()
        rule = FiringRule.from_scenario(scn, setup.quorum)
        des, fast = simulate_des(setup.net, plan, rule), simulate_fast(setup.net, plan, rule)
        for a, b in zip(des.fire_time + des.used, fast.fire_time + fast.used):
            assert np.array_equal(a, b), seed
        assert des.messages == fast.messages
        assert np.array_equal(des.output, fast.output, equal_nan=True)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=scenarios(), block=st.sampled_from([1, 2, 3, 5]))
def test_batched_engine_writes_the_same_trials_csv(data, block):
    """`run --engine fast` simulates blocks of trials at once; with block boundaries inside
    the run, trials.csv is byte-identical to the SimPy engine's, the summaries agree, and
    each trial's given-set bounds (weight-aware and signed) are the per-trial functions',
    bit for bit."""
    import tempfile
    from pathlib import Path
    from unittest.mock import patch

    from neurosim.bounds.signed import given_set_signed_bound
    from neurosim.bounds.weight_aware import given_set_bound
    from neurosim.runner import run_trials

    scn = parse_scenario(dict(data, trials=7))
    setup = prepare(scn)
    with tempfile.TemporaryDirectory() as tmp:
        des = run_trials(setup, "des", Path(tmp) / "des")
        fast = run_trials(setup, "fast", Path(tmp) / "fast", block=block)
        # Blocks joined from chunks simulated `block` trials at a time (as where memory
        # allows fewer trials at once than the bounds take).
        with patch("neurosim.runner.block_size", return_value=block), \
                patch("neurosim.runner.BOUND_TRIALS", 3):
            run_trials(setup, "fast", Path(tmp) / "joined")
        text = (Path(tmp) / "des" / "trials.csv").read_text()
        assert (Path(tmp) / "fast" / "trials.csv").read_text() == text
        assert (Path(tmp) / "joined" / "trials.csv").read_text() == text
    for key in set(des) - {"engine", "elapsed_s"}:
        assert des[key] == fast[key] or (des[key] != des[key] and fast[key] != fast[key]), key
    rows = text.splitlines()[1:]
    assert len(rows) == 7
    planner = Planner(scn, setup.net, setup.inputs)
    rule = FiringRule.from_scenario(scn, setup.quorum)
    f = setup.failures
    plans = [planner.plan(trial) for trial in range(7)]
    batched = simulate_block(setup.net, stack_plans(plans), rule)
    for trial, (row, plan) in enumerate(zip(rows, plans)):
        out = simulate_des(setup.net, plan, rule)
        given_bound = given_set_bound(setup.net, out.signal_kinds(plan), f.eta, f.capacity)
        # The signed one too: the run evaluates it a block at a time (and once per distinct
        # pattern of signals), the reference trial by trial.
        signed = given_set_signed_bound(setup.net, out.signal_kinds(plan), f.eta, f.capacity)
        # A blocked trial has no output, so no bound either (empty cells).
        expected = ("", "") if out.blocked else (repr(given_bound), repr(signed))
        assert tuple(row.split(",")[3:5]) == expected, (trial, row)
        # The whole outcome, messages in flight at the horizon included (not in trials.csv).
        mine = batched.trial(trial)
        assert mine.messages == out.messages, (trial, mine.messages, out.messages)
        assert np.array_equal(mine.output, out.output, equal_nan=True)
        for a, b in zip(mine.fire_time + mine.used, out.fire_time + out.used, strict=True):
            assert np.array_equal(a, b), trial


@pytest.mark.filterwarnings("ignore:overflow encountered in multiply:RuntimeWarning")
def test_batched_engine_counts_infinite_delays_as_the_vectorised_one():
    """Stragglers 1e308 times slower: delays overflow to inf (in flight forever); a short
    horizon leaves finite ones in flight. The block engine counts both as simulate_fast."""
    data = _edge([4, 5, 3], latency=2.0, stragglers=1, straggler_factor=1e308,
                 synapse_crash=[1, 0], firing={"rule": "quorum", "quorum": [2, 3],
                                               "horizon": 3.0})
    data["trials"] = 6
    scn = parse_scenario(data)
    setup = prepare(scn)
    planner = Planner(scn, setup.net, setup.inputs)
    rule = FiringRule.from_scenario(scn, setup.quorum)
    plans = [planner.plan(t) for t in range(6)]
    assert all(np.isinf(p.latency[1]).any() for p in plans)
    batched = simulate_block(setup.net, stack_plans(plans), rule)
    for t, plan in enumerate(plans):
        one = simulate_fast(setup.net, plan, rule)
        assert batched.trial(t).messages == one.messages, t
        assert one.messages["in_flight"] > 0
