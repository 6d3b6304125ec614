"""`neurosim attack`: the exact MILP against brute force, the search against the sound
bounds, the gradient against finite differences, and the witness replayed by `run`."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from neurosim.attack.faults import FaultModel, evaluate, make_batch
from neurosim.attack.milp import worst_case_milp
from neurosim.attack.run import attack
from neurosim.attack.search import search
from neurosim.attack.witness import engine_error, trial_plan
from neurosim.bounds.paper import paper_fep
from neurosim.bounds.weight_aware import weight_aware_bound
from neurosim.data.counts import failure_counts
from neurosim.data.network import random_network, save_network
from neurosim.data.scenario import load_scenario
from neurosim.front.cli import main
from neurosim.setup import prepare
from tests.test_run_cli import write_scenario

ATTACK_KEYS = {"worst_error", "witness", "exact", "bound_paper", "bound_weight_aware",
               "bound_tightest", "gap", "method", "elapsed_s"}


def model_of(crash=(0, 0), byz=(0, 0), lost=(0, 0, 0), corrupted=(0, 0, 0), eta=(0, 0, 0),
             C=1.0) -> FaultModel:
    return FaultModel(tuple(crash), tuple(byz), tuple(lost), tuple(corrupted),
                      tuple(float(e) for e in eta), C)


# -- brute force, written independently of neurosim.attack -------------------------------

def faulty_outputs(net, X, missing):
    """Outputs (P, K) when receiver j of layer l uses 0 for sender i where missing[l-1][j, i]."""
    y = X
    for l, (W, b) in enumerate(zip(net.weights, net.biases), start=1):
        keep = ~missing[l - 1]
        s = np.einsum("ji,pi->pj", W * keep, y) + b
        y = net.phis[l - 1](s) if l <= net.depth else s
    return y


def per_receiver_choices(n_out, n_in, k):
    """Every (n_out, n_in) bool mask with at most k set per row."""
    rows = [np.array([i in c for i in range(n_in)])
            for a in range(k + 1) for c in itertools.combinations(range(n_in), a)]
    for combo in itertools.product(rows, repeat=n_out):
        yield np.array(combo)


def brute_force(net, model, X):
    """Largest max-norm error over every crashed set / lost synapse set and the inputs X."""
    sizes, L = net.sizes, net.depth
    F = net.forward(X)
    per_layer = []
    for l in range(1, L + 1):
        per_layer.append([c for a in range(model.crash[l - 1] + 1)
                          for c in itertools.combinations(range(sizes[l]), a)])
    best = 0.0
    for crashed in itertools.product(*per_layer):
        base = [np.zeros((sizes[l], sizes[l - 1]), dtype=bool) for l in range(1, L + 2)]
        for l, c in enumerate(crashed, start=1):
            base[l][:, list(c)] = True
        lost_options = [per_receiver_choices(sizes[l], sizes[l - 1], model.lost[l - 1])
                        if model.lost[l - 1] else [np.zeros((sizes[l], sizes[l - 1]), bool)]
                        for l in range(1, L + 2)]
        for lost in itertools.product(*lost_options):
            missing = [b | m for b, m in zip(base, lost)]
            best = max(best, float(np.abs(faulty_outputs(net, X, missing) - F).max()))
    return best


def lipschitz(net) -> float:
    """Of each output of either copy, in the max-norm of the input (crashes only remove terms)."""
    k = 1.0
    for l, W in enumerate(net.weights, start=1):
        k *= np.abs(W).sum(axis=1).max() * (net.phis[l - 1].lipschitz if l <= net.depth else 1)
    return k


@pytest.mark.parametrize("act", ["relu", "identity", "hard_sigmoid"])
@pytest.mark.parametrize("failures", [dict(crash=(1, 1)), dict(crash=(2, 0)),
                                      dict(lost=(0, 1, 1)), dict(crash=(1, 0), lost=(1, 0, 0))])
def test_milp_equals_brute_force_over_sets_and_a_dense_grid(act, failures):
    net = random_network([2, 3, 3, 2], act, 1.0, rng=7, input_low=-1.0, input_high=1.0)
    model = model_of(**failures)
    res = worst_case_milp(net, model, time_limit=60.0)
    assert res.proven
    n = 201
    g = np.linspace(-1.0, 1.0, n)
    X = np.array(list(itertools.product(g, g)))
    grid = brute_force(net, model, X)
    # The grid's best is an error the model allows: the MILP's optimum is at least that...
    assert grid <= res.upper + 1e-6
    # ...and its own argmax replays (through the engine) to the optimum, so it is attained...
    assert engine_error(net, trial_plan(net, res.batch)) == pytest.approx(res.value, abs=1e-5)
    # ...and no input lies farther than h/2 from the grid.
    assert res.value <= grid + 2 * lipschitz(net) * (g[1] - g[0]) / 2 + 1e-9


@pytest.mark.parametrize("act", ["relu", "identity", "hard_sigmoid"])
def test_milp_and_search_agree_with_byzantine_failures(act):
    net = random_network([3, 5, 4, 2], act, 1.0, rng=3, input_low=-1.0, input_high=1.0)
    for model in (model_of(crash=(0, 1), byz=(1, 0), C=0.5),
                  model_of(corrupted=(1, 0, 1), C=0.7)):
        res = worst_case_milp(net, model, time_limit=60.0)
        found = search(net, model, None, seed=0, time_limit=20.0)
        assert res.proven
        assert found.error <= res.upper + 1e-6
        assert engine_error(net, trial_plan(net, res.batch)) == pytest.approx(res.value, abs=1e-5)


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu", "hard_sigmoid"])
def test_search_never_exceeds_the_sound_bounds(act):
    net = random_network([6, 7, 5, 3], act, 0.8, rng=11)
    cases = [dict(crash=[1, 2]), dict(byzantine=[1, 1]), dict(synapse_crash=[1, 1, 2]),
             dict(synapse_byzantine=[0, 1, 1]), dict(precision=[0.05, 0.05, 0.05]),
             dict(crash=[1, 0], byzantine=[0, 1], synapse_crash=[1, 0, 1], precision=0.02)]
    for case in cases:
        f = failure_counts(net, capacity=0.8, **case)
        counts = dict(crash=case.get("crash", [0, 0]), byzantine=case.get("byzantine", [0, 0]))
        model = FaultModel(tuple(counts["crash"]), tuple(counts["byzantine"]),
                           _synapse(case, "synapse_crash"), _synapse(case, "synapse_byzantine"),
                           f.eta, 0.8)
        found = search(net, model, None, seed=1, time_limit=10.0)
        replayed = engine_error(net, trial_plan(net, found.batch))
        assert replayed == pytest.approx(found.error, rel=1e-12, abs=1e-12)
        wa = weight_aware_bound(net, f)
        assert replayed <= wa * (1 + 1e-9)
        assert wa <= paper_fep(net, f).fep * (1 + 1e-9)


def _synapse(case, key):
    v = case.get(key, 0)
    return tuple(v) if isinstance(v, list) else (v, v, v)


def test_gradient_matches_finite_differences():
    net = random_network([4, 5, 3, 2], ["sigmoid", "tanh"], 1.0, rng=5)
    model = model_of(crash=(1, 0), byz=(0, 1), eta=(0.1, 0.1, 0.1), C=0.9)
    rng = np.random.default_rng(0)
    batch = make_batch(net, model, rng.random((3, 4)), [(((0,), ()), ((), (2,)))] * 3,
                       np.array([0, 1, 1]), np.array([1.0, -1.0, 1.0]))
    for w in batch.werr:
        w[:] = rng.uniform(-0.1, 0.1, w.shape)
    batch.value[2][:] = rng.uniform(-0.9, 0.9, batch.value[2].shape)
    ev = evaluate(net, batch)
    h = 1e-6
    for i in range(4):
        plus = batch.take(np.arange(3))
        plus.x[:, i] += h
        minus = batch.take(np.arange(3))
        minus.x[:, i] -= h
        fd = (evaluate(net, plus, False).objective - evaluate(net, minus, False).objective) / 2 / h
        np.testing.assert_allclose(ev.dx[:, i], fd, rtol=1e-5, atol=1e-8)
    for arr, grad in ((batch.value, ev.dvalue), (batch.werr, ev.dwerr)):
        for l, j, i in ((1, 0, 0), (3, 1, 2), (2, 2, 4)):
            plus, minus = batch.take(np.arange(3)), batch.take(np.arange(3))
            sel_p = plus.value if arr is batch.value else plus.werr
            sel_m = minus.value if arr is batch.value else minus.werr
            sel_p[l - 1][:, j, i] += h
            sel_m[l - 1][:, j, i] -= h
            fd = (evaluate(net, plus, False).objective
                  - evaluate(net, minus, False).objective) / 2 / h
            np.testing.assert_allclose(grad[l - 1][:, j, i], fd, rtol=1e-5, atol=1e-8)


def _scenario(tmp_path: Path, act: str, failures: dict) -> Path:
    net = random_network([5, 6, 4, 3], act, 0.9, rng=2)
    save_network(net, tmp_path / "net.npz")
    return write_scenario(tmp_path / "s.toml", {
        "name": "attack-check", "seed": 4, "trials": 10,
        "network": {"file": "net.npz"}, "inputs": {"kind": "uniform"},
        "failures": failures,
    })


@pytest.mark.parametrize("act,failures", [
    ("sigmoid", {"crash": [1, 1]}),
    ("tanh", {"crash": [1, 0], "byzantine": [0, 1], "capacity": 0.7}),
    ("sigmoid", {"synapse_crash": [1, 1, 1], "synapse_byzantine": [0, 1, 0],
                 "precision": 0.03}),
    ("relu", {"crash": [1, 1], "synapse_crash": [0, 1, 0]}),
])
def test_witness_replays_through_run_to_1e_12(tmp_path, capsys, act, failures):
    scn = _scenario(tmp_path, act, failures)
    assert main(["attack", str(scn), "--json", "--out", str(tmp_path / "w"),
                 "--time-limit", "20"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert ATTACK_KEYS <= set(report)
    assert report["worst_error"] <= report["bound_tightest"] * (1 + 1e-9)
    assert report["bound_tightest"] <= report["bound_weight_aware"] <= report["bound_paper"]
    assert main(["run", str(tmp_path / "w" / "scenario.toml"), "--json", "--engine", "des",
                 "--out", str(tmp_path / "run")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["blocked_trials"] == 0 and summary["violations"] == 0
    assert abs(summary["max_error"] - report["worst_error"]) <= 1e-12
    if act == "relu":
        assert report["exact"] and report["gap"] >= 1 - 1e-6


def test_attack_on_the_witness_replays_its_failed_set(tmp_path):
    scn = _scenario(tmp_path, "sigmoid", {"crash": [1, 1]})
    report = attack(prepare(load_scenario(scn)), 10.0, tmp_path / "w")
    witness = load_scenario(tmp_path / "w" / "scenario.toml")
    assert witness.failures.placement == "list"
    assert [list(p) for p in witness.failures.crashed] == report["witness"]["crashed"]
    x = np.load(tmp_path / "w" / "x.npy")
    np.testing.assert_array_equal(x[0], report["witness"]["input"])


def test_a_bad_pinned_file_exits_2_naming_the_key(tmp_path, capsys):
    scn = _scenario(tmp_path, "sigmoid", {"crash": [1, 1]})
    assert main(["attack", str(scn), "--out", str(tmp_path / "w"), "--time-limit", "5",
                 "--json"]) == 0
    capsys.readouterr()
    toml = tmp_path / "w" / "scenario.toml"
    np.savez(tmp_path / "w" / "pinned.npz", value2=np.full((4, 6), 5.0))
    toml.write_text(toml.read_text() + "")
    text = toml.read_text().replace('capacity = 1.0', 'capacity = 1.0\npinned = "pinned.npz"')
    toml.write_text(text)
    assert main(["run", str(toml), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "failures.pinned" in err and "value2" in err and "Traceback" not in err


def test_nothing_to_fail_gives_zero_error_no_gap_and_strict_json(tmp_path, capsys):
    scn = _scenario(tmp_path, "sigmoid", {"stragglers": 1})
    assert main(["attack", str(scn), "--json", "--time-limit", "3"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert report["worst_error"] == 0.0 and report["gap"] is None
    # Every bound is 0 and the error 0 is attained: that is the worst case, proven.
    assert report["bound_tightest"] == 0.0 and report["exact"] is True
    assert any("stragglers" in n for n in report["notes"])


def test_a_non_positive_time_limit_exits_2(tmp_path, capsys):
    scn = _scenario(tmp_path, "sigmoid", {"crash": 1})
    assert main(["attack", str(scn), "--time-limit", "0"]) == 2
    assert "--time-limit" in capsys.readouterr().err
