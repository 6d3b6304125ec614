"""Soundness defects an independent audit found (tests/regressions/<n>/README.md for each).

1: quorum = "auto" with a timeout rule was reported certified while the timeout let
   receivers fire on far fewer signals; 2: with Byzantine senders or synapses a quorum
   could skip the corrupted signal and use one more correct one than the bound assumed;
5: bounds overflowed to NaN and a NaN passed every check; 6, 7: float64 rounding put the
   measured error above a bound (cancellation in interval propagation, a saturated sigmoid).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

from neurosim.bounds.intervals import interval_bounds
from neurosim.bounds.paper import paper_fep
from neurosim.bounds.weight_aware import given_set_bound, weight_aware_bound
from neurosim.data.counts import failure_counts
from neurosim.data.network import load_network, make_network, save_network
from neurosim.data.scenario import load_scenario
from neurosim.data.signals import CORRECT, MISSING
from neurosim.front.cli import main
from neurosim.runner import run_trials
from neurosim.setup import prepare

HERE = Path(__file__).parent / "regressions"


@pytest.fixture
def in_folder(monkeypatch):
    """Run a regression's commands from its folder, as its README does."""
    def go(n: int) -> Path:
        monkeypatch.chdir(HERE / str(n))
        return HERE / str(n)
    return go


def test_1_auto_quorum_with_timeout_is_refused(in_folder, capsys):
    in_folder(1)
    for command in (["bound", "scenario.toml"], ["run", "scenario.toml", "--engine", "fast",
                                                 "--out", os.devnull + "-unused"]):
        assert main(command) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "scenario.toml" in err[0] and "firing.rule" in err[0]


@pytest.mark.parametrize("name", ["scenario.toml", "scenario_paper.toml",
                                  "scenario_synapse.toml"])
@pytest.mark.parametrize("engine", ["des", "fast"])
def test_2_byzantine_quorum_certificate_holds(in_folder, name, engine):
    in_folder(2)
    setup = prepare(load_scenario(name))
    summary = run_trials(setup, engine)
    assert summary["violations"] == 0, summary["violation_details"]
    plan = setup.quorum_plan
    # A correct layer-2 signal deviates by up to 11 when the crashed layer-1 signal is
    # skipped: the bound for the old plan (quorums [1, 1, 1]) must cover it, so it is no
    # longer below epsilon = 5 and nothing is certified.
    counts = dict(crash=[1, 0], capacity=0.0, skipped=[0, 1, 1])
    counts.update(synapse_byzantine=[0, 0, 1] if "synapse" in name else 0,
                  byzantine=[0, 0] if "synapse" in name else [0, 1])
    f = failure_counts(setup.net, **counts)
    assert weight_aware_bound(setup.net, f) >= 11.0
    assert paper_fep(setup.net, f).fep >= 11.0
    assert not plan["certified"] or plan["bound"] <= plan["budget"]


def test_2_worst_split_reaches_eleven(in_folder):
    """The split the audit found, by hand: layer-1 neuron b crashed and skipped, the
    Byzantine layer-2 neuron skipped at the output, so the output uses y2a = y1a - 0."""
    folder = in_folder(2)
    net = load_network(folder / "net.npz")
    x = np.array([1.0])
    y1 = net.weights[0] @ x + net.biases[0]           # (11, 11)
    y2a = net.weights[1][0, 0] * y1[0]                # y1b crashed: 11
    faulty = net.weights[2][0, 0] * y2a               # y2b skipped
    clean = net.forward(x[None, :])[0, 0]
    assert abs(faulty - clean) == pytest.approx(11.0)
    f = failure_counts(net, crash=[1, 0], byzantine=[0, 1], capacity=0.0, skipped=[0, 1, 1])
    assert weight_aware_bound(net, f) >= abs(faulty - clean)


def test_5_overflowing_bounds_are_inf_never_nan(in_folder):
    folder = in_folder(5)
    net = load_network(folder / "net.npz")
    f = failure_counts(net, crash=[0, 0, 1])
    for value in (paper_fep(net, f).fep, weight_aware_bound(net, f),
                  weight_aware_bound(net, f, local=False)):
        assert value == math.inf
    summary = run_trials(prepare(load_scenario("scenario.toml")), "des")
    assert summary["max_error"] == 1.0 and summary["violations"] == 0


def test_5_fault_free_overflow_is_bad_input(tmp_path, capsys):
    """Weights of 1e200: the fault-free forward pass is inf - inf = NaN. That is a network
    the engine cannot evaluate: exit 2 naming the network, not a run of NaN errors."""
    W = [np.array([[1e200], [1e200]]), np.array([[1e200, -1e200]]), np.array([[1.0]])]
    save_network(make_network(W, None, "identity", 0.0, 1.0), tmp_path / "net.npz")
    (tmp_path / "s.toml").write_text(
        'seed = 0\ntrials = 2\n[network]\nfile = "net.npz"\n[inputs]\nkind = "corner"\n')
    assert main(["run", str(tmp_path / "s.toml"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "s.toml" in err[0] and "not finite" in err[0]


def test_5_nan_error_or_bound_is_a_violation():
    from neurosim.data.scenario import parse_scenario
    from neurosim.runner import realised_counts, scenario_checks

    setup = prepare(parse_scenario(dict(network=dict(sizes=[2, 3, 1]))))
    checks = scenario_checks(setup, interval_bounds(setup.net))
    counts = realised_counts([np.zeros((3, 2)), np.zeros((1, 3))],
                             [np.zeros(2), np.zeros(3), np.zeros(1)], setup.failures)
    checks.trial(0, math.nan, 0.0, False, counts)
    checks.trial(1, 0.5, math.nan, False, counts)
    assert [v.trial for v in checks.violations] == [0, 1, 1]  # trial 1: both links
    assert all("NaN" in v.describe(setup) for v in checks.violations)


def test_6_cancellation_in_interval_propagation(in_folder):
    folder = in_folder(6)
    net = load_network(folder / "net.npz")
    iv = interval_bounds(net)
    # The forward pass gives exactly 0.1; the intervals must hold it.
    y = net.layer_outputs(np.full(3, 0.1))[1][0]
    assert iv.low[1][0] <= y <= iv.high[1][0]
    f = failure_counts(net, crash=[1])
    assert weight_aware_bound(net, f) >= 0.1
    for engine in ("des", "fast"):
        summary = run_trials(prepare(load_scenario("scenario.toml")), engine)
        assert summary["max_error"] == 0.1 and summary["violations"] == 0


@pytest.mark.parametrize("engine", ["des", "fast"])
def test_7_saturated_sigmoid_rounding(in_folder, engine):
    in_folder(7)
    summary = run_trials(prepare(load_scenario("scenario.toml")), engine)
    assert summary["max_error"] > 1e-10  # the 2-ulp float step of the audit's case
    assert summary["violations"] == 0, summary["violation_details"]


def test_7_every_saturated_point_is_covered():
    """The audit's sweep: s0 in [25, 36], d in [1e-5, 0.1], sigmoid and tanh near
    saturation; the float64 difference never exceeds the given-set bound."""
    rng = np.random.default_rng(7)
    for act, (lo, hi) in (("sigmoid", (25.0, 36.0)), ("tanh", (12.0, 19.0))):
        for _ in range(300):
            s0, d = rng.uniform(lo, hi), 10 ** rng.uniform(-5, -1)
            # 1-1-1: s = d * x + s0 on x in [0, 1]; a lost input synapse moves s by d.
            net = make_network([np.array([[d]]), np.array([[1e6]])],
                               [np.array([s0]), np.zeros(1)], act, 0.0, 1.0)
            clean = net.forward(np.ones((1, 1)))[0, 0]
            faulty = net.forward(np.zeros((1, 1)))[0, 0]
            f = failure_counts(net, synapse_crash=[1, 0])
            assert abs(faulty - clean) <= weight_aware_bound(net, f), (act, s0, d)


def test_summation_rounding_is_charged():
    """Not from the audit, the same family: s = 1e16 x0 + x1 with x0 = 1, x1 = 3 rounds to
    1e16 + 4 (ulp 2); with x1's synapse lost it is 1e16. The float64 error is 4, the real
    one 3: the bound must charge the sums' rounding, not only the real deviation."""
    net = make_network([np.array([[1e16, 1.0]]), np.array([[1.0]])], None, "identity",
                       np.array([1.0, 0.0]), np.array([1.0, 3.0]))
    x = np.array([[1.0, 3.0]])
    clean = net.forward(x)[0, 0]
    faulty = net.forward(np.array([[1.0, 0.0]]))[0, 0]
    assert abs(faulty - clean) == 4.0
    lost = [np.array([CORRECT, MISSING], dtype=np.int8), None]  # x1's synapse
    assert given_set_bound(net, lost) >= 4.0
    assert given_set_bound(net, lost, local=False) >= 4.0


def test_activation_rounding_allowance_covers_numpy():
    """The per-activation rounding allowance against 64-bit-mantissa long doubles."""
    from neurosim.bounds.rounding import ACTIVATION_ULPS, UNIT
    from neurosim.data.activations import ACTIVATIONS

    if np.finfo(np.longdouble).nmant < 60:
        pytest.skip("long double is float64 here: no reference to compare with")
    rng = np.random.default_rng(11)
    s = np.concatenate([rng.uniform(-40, 40, 200_000), rng.uniform(-745, 745, 20_000)])
    ref = {"sigmoid": 1 / (1 + np.exp(-s.astype(np.longdouble))),
           "tanh": np.tanh(s.astype(np.longdouble)),
           "hard_sigmoid": np.clip(0.25 * s.astype(np.longdouble) + 0.5, 0, 1)}
    for name, exact in ref.items():
        got = ACTIVATIONS[name](s).astype(np.longdouble)
        err = np.abs(got - exact) / np.maximum(np.abs(exact), np.longdouble(1e-300))
        assert float(err.max()) <= ACTIVATION_ULPS[name] * UNIT, name
