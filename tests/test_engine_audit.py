"""An outside audit of the two engines on tiny networks whose truth is counted by hand, or
computed by an independent neuron-by-neuron reference written here (plain Python loops
over the trial plan, no engine code): firing rules, ties, crashes, the horizon, message
counts, in both engines and in the batched one."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import PROFILE, without_unread

from neurosim.data.scenario import parse_scenario
from neurosim.engines.block import simulate_block, stack_plans
from neurosim.engines.des import simulate_des
from neurosim.engines.fast import simulate_fast
from neurosim.engines.plan import FiringRule, Planner
from neurosim.setup import prepare


def _outcomes(data: dict, trials: int = 1):
    """Every engine's outcome of each trial of a scenario dict: [(plan, {engine: out})]."""
    scn = parse_scenario(dict(data, trials=trials))
    setup = prepare(scn)
    planner = Planner(scn, setup.net, setup.inputs)
    rule = FiringRule.from_scenario(scn, setup.quorum)
    plans = [planner.plan(t) for t in range(trials)]
    block = simulate_block(setup.net, stack_plans(plans), rule)
    return [(plan, {"des": simulate_des(setup.net, plan, rule),
                    "fast": simulate_fast(setup.net, plan, rule),
                    "block": block.trial(t)}) for t, plan in enumerate(plans)]


@pytest.mark.filterwarnings("ignore:overflow encountered in multiply:RuntimeWarning")
def test_a_message_with_an_infinite_delay_is_in_flight_in_every_engine():
    """A straggler 1e308 times slower: its delay overflows to inf. The message was sent,
    not lost, and never arrives: it is still travelling at the horizon, so that
    sent = received + lost + in_flight holds. By hand, [3, 4, 2], delays 2, quorum 3 of
    4 at the outputs: 12 + 8 sent, 12 + 6 received and used, the straggler's 2 in flight."""
    data = {"seed": 1, "network": {"sizes": [3, 4, 2]},
            "failures": {"stragglers": 1, "straggler_factor": 1e308},
            "latency": {"model": "constant", "mean": 2.0},
            "firing": {"rule": "quorum", "quorum": [3, 3], "horizon": 10.0}}
    [(plan, outs)] = _outcomes(data)
    assert np.isinf(plan.latency[1]).sum() == 2
    for name, out in outs.items():
        assert out.messages == dict(sent=20, received=18, lost=0, in_flight=2, used=18,
                                    wasted=0), name
        assert list(out.fire_time[2]) == [4.0, 4.0], name


def reference(net, plan, firing, quorum, processing: float):
    """One trial, neuron by neuron, from the docs' words alone (docs/semantics.md).

    Returns (output, fire times per layer, used masks per layer 1..L+1, message counts).
    A receiver's signals: those of senders that fired, not lost, arriving before the
    horizon. Its rule holds at the k-th arrival (quorum), the last of all N (wait-all,
    timeout), or at the deadline (timeout: from its first arrival, or from time 0),
    whichever is first; it uses what arrived by then, the first k by (time, sender).
    It fires `processing` later, unless that is at or after the horizon, or it crashed
    at or before then. Missing signals count 0; the sum runs along the senders in order.
    """
    sizes = net.sizes
    rule, timeout, horizon = firing.rule, firing.timeout, firing.horizon
    fire = [[0.0] * sizes[0]]
    y = [float(v) for v in plan.x]
    msgs = dict(sent=0, received=0, lost=0, in_flight=0, used=0, wasted=0)
    used_all = []
    for l in range(1, len(sizes)):
        n_s, n_r, prev = sizes[l - 1], sizes[l], fire[-1]
        msgs["sent"] += sum(math.isfinite(t) for t in prev) * n_r
        times, values, used = [], [], np.zeros((n_r, n_s), dtype=bool)
        for j in range(n_r):
            arrived = []
            for i in range(n_s):
                if not math.isfinite(prev[i]):
                    continue
                if plan.lost[l - 1][j, i]:
                    msgs["lost"] += 1
                    continue
                at = prev[i] + float(plan.latency[l - 1][j, i])
                if at < horizon:
                    msgs["received"] += 1
                    arrived.append((at, i))
                else:
                    msgs["in_flight"] += 1
            arrived.sort()
            k = quorum[l - 1] if "quorum" in rule else None
            holds = math.inf
            if k is not None:
                holds = arrived[k - 1][0] if len(arrived) >= k else math.inf
            elif len(arrived) == n_s:
                holds = arrived[-1][0]
            if "timeout" in rule:
                if firing.timeout_from == "start":
                    holds = min(holds, timeout)
                elif arrived:
                    holds = min(holds, arrived[0][0] + timeout)
            t = holds + processing
            crashed = bool(plan.crashed[l][j]) and t >= plan.crash_time
            if not (holds < math.inf and t < horizon) or crashed:
                times.append(math.inf)
                values.append(math.nan)
                continue
            took = [(at, i) for at, i in arrived if at <= holds][:k]
            u = [0.0] * n_s
            for _, i in took:
                used[j, i] = True
                u[i] = float(plan.value[l - 1][j, i]) if plan.replaced[l - 1][j, i] else y[i]
            s = 0.0
            for i in range(n_s):
                s += float(plan.weights[l - 1][j, i]) * u[i]
            s += float(net.biases[l - 1][j])
            if l <= net.depth:
                s = float(net.phis[l - 1](np.array([s]))[0])
            times.append(t)
            values.append(s)
            msgs["used"] += len(took)
        msgs["wasted"] = msgs["received"] - msgs["used"]
        fire.append(times)
        y = values
        used_all.append(used)
    return np.array(y), [np.array(t) for t in fire], used_all, msgs


GRID = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0]  # delays, deadlines, crash times and horizons tie


@st.composite
def tie_prone(draw) -> dict:
    """Tiny scenarios (fewer than 8 senders: numpy then sums a row in order, as the
    reference does) whose times fall on one grid, so that arrivals tie with one another,
    with deadlines, crash times and the horizon."""
    depth = draw(st.integers(0, 2))
    sizes = [draw(st.integers(1, 5)) for _ in range(depth + 1)] + [draw(st.integers(1, 3))]
    hidden = sizes[1:-1]
    crash = [draw(st.integers(0, min(2, n))) for n in hidden]
    byz = [draw(st.integers(0, min(1, n - c))) for n, c in zip(hidden, crash)]
    faulty = [0] + [c + b for c, b in zip(crash, byz)]
    syn_crash = [draw(st.integers(0, min(1, n - f))) for n, f in zip(sizes[:-1], faulty)]
    syn_byz = [draw(st.integers(0, min(1, n - f - s)))
               for n, f, s in zip(sizes[:-1], faulty, syn_crash)]
    failures = {"crash": crash, "byzantine": byz, "synapse_crash": syn_crash,
                "synapse_byzantine": syn_byz,
                "stragglers": [draw(st.integers(0, min(1, n))) for n in hidden],
                "straggler_factor": draw(st.sampled_from([2.0, 1e308])),
                "byzantine_mode": draw(st.sampled_from(["random", "adversarial"])),
                "placement": draw(st.sampled_from(["random", "worst"]))}
    if draw(st.booleans()):
        failures["crash_time"] = draw(st.sampled_from([0.0] + GRID))
    if draw(st.booleans()):
        failures["precision"] = 0.01
    if draw(st.booleans()):
        latency = {"model": "constant", "mean": draw(st.sampled_from([0.5, 1.0]))}
    else:
        latency = {"model": "empirical", "file": "grid.npy"}
    latency["processing"] = draw(st.sampled_from([0.0, 0.5]))
    rule = draw(st.sampled_from(["wait-all", "quorum", "timeout", "quorum-or-timeout"]))
    firing: dict = {"rule": rule, "horizon": draw(st.sampled_from([1000.0] + GRID))}
    if "quorum" in rule:
        corrupted = [f + s for f, s in zip([0] + byz, syn_byz)]
        firing["quorum"] = [draw(st.integers(max(1, z), n))
                            for z, n in zip(corrupted, sizes[:-1])]
    if "timeout" in rule:
        firing["timeout"] = draw(st.sampled_from(GRID))
        firing["timeout_from"] = draw(st.sampled_from(["first", "start"]))
    return {"seed": draw(st.integers(0, 2**32 - 1)), "trials": 3,
            "network": {"sizes": sizes, "activation": draw(st.sampled_from(
                ["sigmoid", "relu", "identity"]))},
            "failures": without_unread(failures), "latency": latency, "firing": firing}


@pytest.fixture(scope="module")
def grid_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("grid")
    np.save(folder / "grid.npy", np.array([0.0, 0.5, 0.5, 1.0, 1.5]))
    return folder


@pytest.mark.filterwarnings("ignore:overflow encountered in multiply:RuntimeWarning")
@settings(max_examples=300, **{k: v for k, v in PROFILE.items()})
@given(data=tie_prone())
def test_every_engine_runs_the_trial_the_reference_runs(grid_folder, data):
    scn = parse_scenario(data, source=str(grid_folder / "s.toml"), base_dir=str(grid_folder))
    setup = prepare(scn)
    planner = Planner(scn, setup.net, setup.inputs)
    rule = FiringRule.from_scenario(scn, setup.quorum)
    plans = [planner.plan(t) for t in range(scn.trials)]
    block = simulate_block(setup.net, stack_plans(plans), rule)
    for t, plan in enumerate(plans):
        y, fire, used, msgs = reference(setup.net, plan, scn.firing, setup.quorum,
                                        scn.latency.processing)
        for name, out in (("des", simulate_des(setup.net, plan, rule)),
                          ("fast", simulate_fast(setup.net, plan, rule)),
                          ("block", block.trial(t))):
            assert out.messages == msgs, (name, t, out.messages, msgs)
            for mine, ref in zip(out.fire_time, fire, strict=True):
                assert np.array_equal(mine, ref), (name, t, out.fire_time, fire)
            for mine, ref in zip(out.used, used, strict=True):
                assert np.array_equal(mine, ref), (name, t)
            assert np.array_equal(out.output, y, equal_nan=True), (name, t, out.output, y)


@pytest.mark.parametrize("engine", ["des", "fast"])
def test_summary_counts_the_messages_in_flight_at_the_horizon(tmp_path, engine):
    """[2, 3, 1], delays 1, horizon 1.5: the hidden layer fires at 1 and its 3 messages
    would land at 2, after the horizon. By hand, per trial: 6 + 3 sent, 6 received and
    used, 3 in flight; the summary sums two trials, so that sent = received + lost +
    in flight can be read off it."""
    from neurosim.runner import run_trials

    data = {"seed": 2, "trials": 2, "network": {"sizes": [2, 3, 1]},
            "latency": {"model": "constant", "mean": 1.0}, "firing": {"horizon": 1.5}}
    summary = run_trials(prepare(parse_scenario(data)), engine, tmp_path)
    assert summary["blocked_trials"] == 2
    assert {k: summary[f"messages_{k}"] for k in
            ("sent", "received", "lost", "in_flight", "used", "wasted")} == \
        dict(sent=18, received=12, lost=0, in_flight=6, used=12, wasted=0)


@pytest.mark.parametrize("engine", ["des", "fast"])
def test_a_lost_and_a_byzantine_synapse_counted_and_computed_by_hand(tmp_path, engine):
    """[2, 2, 1], identity hidden layer, delays 1, timeout 0.5 from the first signal.
    Hidden 0 loses input 0's message: it hears input 1 at 1 and fires at its deadline 1.5;
    hidden 1 hears both at 1 and fires then. The output's synapse from hidden 1 is
    Byzantine (delivers 0.5) and lands at 2; hidden 0's lands at 2.5, on the output's
    deadline 2.5: used. By hand: 4 + 2 sent, 1 lost, 5 received and used; latency 2.5."""
    import csv

    from neurosim.runner import run_trials

    np.savez(tmp_path / "pins.npz", lost1=np.array([[True, False], [False, False]]),
             replaced2=np.array([[False, True]]), value2=np.array([[0.0, 0.5]]))
    data = {"seed": 4, "trials": 3, "network": {"sizes": [2, 2, 1], "activation": "identity"},
            "failures": {"placement": "list", "pinned": "pins.npz"},
            "latency": {"model": "constant", "mean": 1.0},
            "firing": {"rule": "timeout", "timeout": 0.5}}
    setup = prepare(parse_scenario(data, source=str(tmp_path / "s.toml"),
                                   base_dir=str(tmp_path)))
    run_trials(setup, engine, tmp_path / "out")
    (W1, W2), (b1, b2) = setup.net.weights, setup.net.biases
    with open(tmp_path / "out" / "trials.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    for row in rows:
        x0, x1 = setup.inputs[int(row["input_index"])].tolist()
        h0 = W1[0, 1] * x1 + b1[0]  # input 0's signal lost: it counts 0
        h1 = W1[1, 0] * x0 + W1[1, 1] * x1 + b1[1]
        out = W2[0, 0] * h0 + W2[0, 1] * 0.5 + b2[0]
        clean0 = W1[0, 0] * x0 + W1[0, 1] * x1 + b1[0]
        clean = W2[0, 0] * clean0 + W2[0, 1] * h1 + b2[0]
        assert float(row["error"]) == abs(out - clean)
        assert (row["messages_sent"], row["messages_lost"], row["messages_received"],
                row["messages_used"], row["messages_wasted"]) == ("6", "1", "5", "5", "0")
        assert (row["latency"], row["layer_latency_1"], row["layer_latency_2"],
                row["blocked"]) == ("2.5", "1.5", "2.5", "0")
