"""Cases an adversarial audit found, each checked against what the engine computes.

Every expected figure comes from the engine itself (a `neurosim run` of the case) or from a
hand derivation written next to it, never from the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest

from neurosim.attack.run import attack
from neurosim.data.network import make_network, save_network
from neurosim.data.scenario import parse_scenario
from neurosim.runner import run_trials
from neurosim.setup import prepare


def _cancelling_net(path):
    """1-2-2-1 identity net. Layer 1: c = x, d = 0; layer 2: v1 = 3c + 1e16,
    v2 = 2.9999c + 1e16; output F = v1 - v2. In real arithmetic F = 1e-4 c (at most 5e-5
    on x in [0, 0.5]); in float64 v1 and v2 land on the grid of spacing 2 around 1e16, so F
    is 2 for c in (1/3, 1/2.9999) and 0 elsewhere. Crashing c gives F' = 0 exactly."""
    net = make_network([np.array([[1.0], [0.0]]), np.array([[3.0, 0.0], [2.9999, 0.0]]),
                        np.array([[1.0, -1.0]])],
                       [np.zeros(2), np.array([1e16, 1e16]), np.zeros(1)],
                       ["identity", "identity"], 0.0, 0.5)
    save_network(net, path)


def test_attack_bound_milp_holds_for_the_float64_engine(tmp_path):
    _cancelling_net(tmp_path / "net.npz")
    base = {"seed": 0, "trials": 2, "network": {"file": "net.npz"},
            "latency": {"model": "constant"}, "firing": {"rule": "quorum", "quorum": [1, 1, 2]}}
    # Brute force: the engine at x = 0.33334 with neuron (1, 0) crashed.
    np.save(tmp_path / "x.npy", np.array([[0.33334]]))
    brute = parse_scenario({**base, "inputs": {"kind": "file", "file": "x.npy"},
                            "failures": {"placement": "list", "crashed": [[1, 0]]}},
                           base_dir=str(tmp_path))
    measured = run_trials(prepare(brute), "fast")["max_error"]
    assert measured == 2.0  # hand derivation above: the engine's error is 2, not 3.3e-5
    scn = parse_scenario({**base, "inputs": {"kind": "uniform"},
                          "failures": {"crash": [1, 0]}}, base_dir=str(tmp_path))
    report = attack(prepare(scn), time_limit=10.0)
    assert report["bound_milp"] is not None
    assert measured <= report["bound_milp"], report
    assert measured <= report["bound_tightest"], report
    assert not (report["exact"] and report["worst_error"] < measured), report


def test_a_three_dimensional_weight_array_is_named_as_such(tmp_path):
    """A 3-D W1 in a network file: the error names W1 and its shape, not the input box."""
    from neurosim.data.network import load_network
    from neurosim.errors import InputError

    path = tmp_path / "net.npz"
    np.savez(path, W1=np.ones((1, 2, 1)), W2=np.ones((1, 1)),
             activations=np.array(["sigmoid"]), input_low=np.zeros(2), input_high=np.ones(2))
    try:
        load_network(path)
    except InputError as err:
        assert err.key == "W1" and "2-D" in err.message, err
    else:
        raise AssertionError("a 3-D W1 was accepted")


def test_too_many_trials_for_the_inputs_is_an_input_error(tmp_path):
    """trials = 10**30 with uniform inputs: one clear error naming `trials` (was a numpy
    ValueError traceback, exit 1, from drawing every trial's input at once)."""
    from neurosim.errors import InputError

    _cancelling_net(tmp_path / "net.npz")
    for trials in (10**30, 2**62):
        scn = parse_scenario({"seed": 0, "trials": trials, "network": {"file": "net.npz"},
                              "inputs": {"kind": "uniform"}}, base_dir=str(tmp_path))
        try:
            prepare(scn)
        except InputError as err:
            assert err.key == "trials", err
        else:
            raise AssertionError(f"trials = {trials} accepted")


def test_a_network_too_large_to_hold_is_an_input_error():
    """sizes = [2, 10**9, 1] (or a trained net with 10**9 hidden neurons): one clear error
    naming the key, before any allocation (was a numpy MemoryError traceback, or the process
    killed by the system while it drew 16 GB of weights)."""
    from neurosim.errors import InputError

    for net in ({"sizes": [2, 10**9, 1]}, {"sizes": [10**6, 10**6, 1]},
                {"train": {"hidden": [10**9]}}):
        key = "network.sizes" if "sizes" in net else "network.train.hidden"
        scn = parse_scenario({"seed": 0, "trials": 2, "network": net})
        try:
            prepare(scn)
        except InputError as err:
            assert err.key == key, err
        else:
            raise AssertionError(f"{net} accepted")


def test_a_weight_scale_whose_range_overflows_is_an_input_error():
    """weight_scale = 1e308: the draw's width 2e308 overflows (was an OverflowError
    traceback); just below 2**1023 the width is a float64 and the draw works (the network's
    outputs may then overflow: that is refused under its own key)."""
    from neurosim.errors import InputError

    for scale, ok in ((1e308, False), (float(np.nextafter(2.0 ** 1023, 0.0)), True),
                      (1e300, True)):
        data = {"seed": 0, "trials": 2, "network": {"sizes": [2, 2, 1], "weight_scale": scale}}
        try:
            prepare(parse_scenario(data))
        except InputError as err:
            assert (err.key != "network.weight_scale") == ok, (scale, err)
        else:
            assert ok, f"weight_scale = {scale} accepted"


def _scenario_file(tmp_path):
    _cancelling_net(tmp_path / "net.npz")
    path = tmp_path / "s.toml"
    path.write_text('seed = 0\ntrials = 2\n[network]\nfile = "net.npz"\n[failures]\n'
                    'crash = [1, 0]\n[firing]\nrule = "quorum"\nquorum = [1, 1, 2]\n')
    return path


def test_an_output_folder_that_cannot_be_made_is_an_input_error(tmp_path, capsys):
    """--out under a regular file: exit 2 naming --out, no traceback (was a
    FileNotFoundError / NotADirectoryError traceback, exit 1: "a bound was violated")."""
    from neurosim.front.cli import main

    scn = _scenario_file(tmp_path)
    (tmp_path / "file").write_text("")
    bad = str(tmp_path / "file" / "out")
    for argv in (["run", str(scn), "--engine", "fast", "--out", bad],
                 ["attack", str(scn), "--time-limit", "2", "--out", bad]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "--out" in err and "Traceback" not in err, err


def test_a_time_limit_that_is_not_a_finite_number_is_refused(tmp_path, capsys):
    from neurosim.front.cli import main

    scn = _scenario_file(tmp_path)
    for value in ("nan", "inf", "-1", "0"):
        assert main(["attack", str(scn), "--time-limit", value]) == 2, value
        assert "--time-limit" in capsys.readouterr().err


def _silenced_net(path):
    """1-2-1 sigmoid net, biases 5: a hidden neuron that gets its input computes
    sigmoid(5 + x), one that loses it sigmoid(5): they differ by < 0.007. A neuron that gets
    no signal at all never fires (a timeout counts from the first signal), and the output
    then misses it: sigmoid(5 + x) ~ 0.99 (hand derivation)."""
    net = make_network([np.array([[1.0], [1.0]]), np.array([[1.0, 1.0]])],
                       [np.array([5.0, 5.0]), np.zeros(1)], ["sigmoid"], 0.0, 1.0)
    save_network(net, path)
    return net


def test_attack_bounds_cover_a_receiver_left_without_any_signal(tmp_path):
    """synapse_crash = [1, 0] on a layer of fan-in 1: a hidden receiver can lose its only
    signal and then never fires, which the output sees as a crash. The attack's bounds
    (bound_milp, bound_tightest) were those of a receiver firing on 0 (about 0.013), below
    the 0.9975 the engine produces; and `exact` must not hold below it."""
    _silenced_net(tmp_path / "net.npz")
    np.savez(tmp_path / "pinned.npz", lost1=np.array([[True], [False]]))
    np.save(tmp_path / "x.npy", np.array([[1.0]]))
    base = {"seed": 0, "trials": 1, "network": {"file": "net.npz"},
            "latency": {"model": "constant"}, "firing": {"rule": "timeout", "timeout": 0.5}}
    pinned = parse_scenario({**base, "inputs": {"kind": "file", "file": "x.npy"},
                             "failures": {"synapse_crash": [1, 0], "placement": "list",
                                          "pinned": "pinned.npz"}}, base_dir=str(tmp_path))
    measured = run_trials(prepare(pinned), "fast")["max_error"]
    expected = 1.0 / (1.0 + np.exp(-6.0))  # the output misses hidden neuron 0 at x = 1
    assert measured == pytest.approx(expected, rel=1e-12)
    scn = parse_scenario({**base, "inputs": {"kind": "uniform"},
                          "failures": {"synapse_crash": [1, 0]}}, base_dir=str(tmp_path))
    report = attack(prepare(scn), time_limit=5.0)
    assert measured <= report["bound_tightest"], report
    if report.get("bound_milp") is not None:
        assert measured <= report["bound_milp"], report
    assert not (report["exact"] and report["worst_error"] < measured), report
    assert report["worst_error"] <= measured * (1 + 1e-12)  # nothing beats it (or blocks)


def test_attack_where_a_crash_can_silence_a_whole_layer_is_clean(tmp_path, capsys):
    """crash = [1, 0] on a 1-1-1-1 net: crashing the only neuron of layer 1 leaves layer 2
    without a signal, so the output never fires. Was a ValueError traceback (All-NaN slice);
    now a report whose worst error is one the engine produces (0: the fault-free run) and
    strict JSON."""
    import json

    from neurosim.front.cli import main

    net = make_network([np.array([[1.0]]), np.array([[2.0]]), np.array([[1.0]])],
                       [np.zeros(1), np.array([0.5]), np.zeros(1)], ["tanh", "tanh"], -3.0, -2.5)
    save_network(net, tmp_path / "net.npz")
    (tmp_path / "s.toml").write_text('seed = 1\ntrials = 2\n[network]\nfile = "net.npz"\n'
                                     '[failures]\ncrash = [1, 0]\n')
    assert main(["attack", str(tmp_path / "s.toml"), "--time-limit", "3", "--json",
                 "--out", str(tmp_path / "w")]) == 0
    out = capsys.readouterr()
    report = json.loads(out.out)
    assert report["worst_error"] == 0.0, report
    assert not report["exact"] or report["bound_tightest"] == 0.0
    # The witness replays: its run produces an output (not blocked) with that error.
    assert main(["run", str(tmp_path / "w" / "scenario.toml"), "--engine", "fast", "--out",
                 str(tmp_path / "r")]) == 0
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["blocked_trials"] == 0 and summary["max_error"] == 0.0


def test_attack_search_does_not_stall_on_an_output_of_fan_in_one(tmp_path):
    """synapse_crash = 1 on a 2-2-1-1 tanh net: the output's only signal may be lost, but
    then it never fires (no error). The search dropped it on every climber and found 60x
    less than brute force over the configurations that keep it (lost synapses into layers
    1 and 2, through the engine)."""
    from neurosim.data.network import random_network
    from tests.test_attack import brute_force, model_of

    net = random_network([2, 2, 1, 1], "tanh", 3.0, rng=26, input_low=0.0, input_high=4.0)
    save_network(net, tmp_path / "net.npz")
    g = np.linspace(0.0, 4.0, 41)
    X = np.array([[a, b] for a in g for b in g])
    grid = brute_force(net, model_of(crash=(0, 0), lost=(1, 1, 0)), X)
    scn = parse_scenario({"seed": 26, "trials": 4, "network": {"file": "net.npz"},
                          "failures": {"synapse_crash": 1}}, base_dir=str(tmp_path))
    report = attack(prepare(scn), time_limit=3.0, use_milp=False)
    assert report["worst_error"] >= grid * (1 - 1e-3), (report["worst_error"], grid)


def test_sweep_reruns_points_whose_pinned_file_changed(tmp_path, capsys):
    """failures.pinned is a file the run reads: after it changes, a resumed sweep must run
    its points again (it kept the rows run with the old file: 0 of 2 run)."""
    import json

    from neurosim.front.cli import main

    net = make_network([np.array([[1.0, 2.0], [0.5, -1.0]]), np.array([[1.0, 1.0]])],
                       [np.zeros(2), np.zeros(1)], ["sigmoid"], 0.0, 1.0)
    save_network(net, tmp_path / "net.npz")
    np.savez(tmp_path / "pinned.npz", lost1=np.array([[True, False], [False, False]]))
    (tmp_path / "s.toml").write_text(
        'seed = 1\ntrials = 3\n[network]\nfile = "net.npz"\n[failures]\nsynapse_crash = [1, 0]\n'
        'placement = "list"\npinned = "pinned.npz"\n[latency]\nmodel = "constant"\n'
        '[firing]\nrule = "timeout"\ntimeout = 0.5\n[sweep]\nseed = [1, 2]\n')
    argv = ["sweep", str(tmp_path / "s.toml"), "--out", str(tmp_path / "out"), "--engine",
            "fast", "--quiet"]
    assert main(argv) == 0
    np.savez(tmp_path / "pinned.npz", lost1=np.zeros((2, 2), dtype=bool))  # nothing lost now
    capsys.readouterr()
    assert main(argv) == 0
    assert "ran 2 of 2 points" in capsys.readouterr().out
    for summary in (tmp_path / "out" / "points").glob("*/summary.json"):
        assert json.loads(summary.read_text())["max_error"] == 0.0  # the new file's run


def test_plot_of_a_hand_edited_results_folder_is_one_line(tmp_path, capsys):
    """summary.json holding a list or null, a trials.csv with no row, a sweep.csv with no
    row: exit 2 with one line naming the file (were AttributeError tracebacks, or exit 0
    having drawn nothing)."""
    from neurosim.front.cli import main

    _cancelling_net(tmp_path / "net.npz")
    (tmp_path / "s.toml").write_text(
        'seed = 0\ntrials = 3\n[network]\nfile = "net.npz"\n[firing]\nrule = "quorum"\n'
        'quorum = [1, 1, 2]\n[failures]\ncrash = [1, 0]\n[sweep]\nseed = [0, 1]\n')
    out = tmp_path / "out"
    assert main(["sweep", str(tmp_path / "s.toml"), "--out", str(out), "--engine", "fast",
                 "--quiet"]) == 0
    point = next((out / "points").iterdir())
    summary, trials = (point / "summary.json").read_text(), (point / "trials.csv").read_text()
    capsys.readouterr()
    cases = [(point, "summary.json", "[]", summary), (point, "summary.json", "null", summary),
             (point, "trials.csv", trials.splitlines()[0] + "\n", trials),
             (out, "sweep.csv", (out / "sweep.csv").read_text().splitlines()[0] + "\n", None)]
    for folder, name, text, restore in cases:
        (folder / name).write_text(text)
        assert main(["plot", str(folder)]) == 2, (name, text)
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err and name in err, err
        if restore is not None:
            (folder / name).write_text(restore)


@pytest.mark.parametrize("case", [
    ("tanh", [3, 2, 3, 1], -1.0, 2.0, 0.3, 1, {"crash": [0, 1], "synapse_crash": 1}),
    ("sigmoid", [3, 3, 2], -1.0, 2.0, 1.0, 2,
     {"synapse_crash": 1, "synapse_byzantine": 1, "capacity": 0.7}),
    ("identity", [2, 2, 1], 0.0, 3.0, 1.0, 3,
     {"synapse_byzantine": 1, "capacity": 0.7, "precision": 0.05}),
    ("hard_sigmoid", [1, 4, 4, 1], -1.0, 0.0, 2.5, 29,
     {"byzantine": [0, 1], "capacity": 1.5, "synapse_crash": 1}),
], ids=["lost", "lost+byzantine synapses", "byzantine synapses+eta", "silenced"])
def test_the_witness_replays_the_worst_error_found(tmp_path, case):
    """`neurosim run` on the witness scenario must give the attack's worst_error: it gave
    less, because the layers where the witness fails no synapse were not pinned and the
    run drew lost or Byzantine synapses there at random (the scenario's counts). And where
    neurons left without any signal are listed as crashed, the witness's synapse counts
    must still fit the layers (it was refused: "5 of 4 signals")."""
    from neurosim.data.network import random_network
    from neurosim.data.scenario import load_scenario

    act, sizes, lo, hi, scale, seed, failures = case
    net = random_network(sizes, act, scale, rng=seed, input_low=lo, input_high=hi)
    save_network(net, tmp_path / "net.npz")
    scn = parse_scenario({"seed": seed, "trials": 3, "network": {"file": "net.npz"},
                          "failures": failures}, base_dir=str(tmp_path))
    report = attack(prepare(scn), time_limit=3.0, out_dir=tmp_path / "w")
    for engine in ("fast", "des"):
        replay = run_trials(prepare(load_scenario(tmp_path / "w" / "scenario.toml")), engine)
        assert replay["violations"] == 0 and replay["blocked_trials"] == 0
        assert replay["max_error"] == pytest.approx(report["worst_error"], rel=1e-12, abs=1e-15)


def test_attack_json_stdout_is_json_only_when_the_solver_talks(tmp_path, capfd):
    """--json: stdout is JSON only. On this relu net HiGHS writes a line of its own
    ("HighsMipSolverData::transformNewIntegerFeasibleSolution ...") straight to the
    process's stdout, before the report (json.loads failed on it)."""
    import json

    from neurosim.data.network import random_network
    from neurosim.front.cli import main

    net = random_network([3, 4, 2], "relu", 0.3, rng=7, input_low=-1.0, input_high=0.0)
    save_network(net, tmp_path / "net.npz")
    (tmp_path / "s.toml").write_text('seed = 7\ntrials = 3\n[network]\nfile = "net.npz"\n'
                                     '[failures]\nsynapse_crash = 1\nsynapse_byzantine = 1\n'
                                     'capacity = 0.7\n')
    assert main(["attack", str(tmp_path / "s.toml"), "--json", "--time-limit", "3"]) == 0
    report = json.loads(capfd.readouterr().out)
    assert report["worst_error"] <= report["bound_tightest"]


@pytest.mark.parametrize("failures, firing", [
    ({"crash_probability": 0.5}, {"rule": "timeout", "timeout": 0.5}),
    ({"crash": [1]}, {"rule": "timeout", "timeout": 0.5}),
])
def test_attack_is_not_exact_when_the_run_goes_beyond_what_it_searched(tmp_path, failures,
                                                                        firing):
    """Random crashes (any number can crash) or a timeout (any late signal can be left
    out): the attack searches the scenario's counts only, so its worst error is no proof.
    It said "exact" (0 with crash_probability) while `neurosim run` of the same scenario
    measures more."""
    net = make_network([np.array([[1.0, -0.5], [2.0, 1.0], [-1.0, 1.5]]),
                        np.array([[1.0, 2.0, -1.0]])], [np.zeros(3), np.zeros(1)],
                       ["sigmoid"], 0.0, 1.0)
    save_network(net, tmp_path / "net.npz")
    base = {"seed": 3, "trials": 200, "network": {"file": "net.npz"}, "failures": failures,
            "latency": {"model": "exponential"}, "firing": firing}
    measured = run_trials(prepare(parse_scenario(base, base_dir=str(tmp_path))),
                          "fast")["max_error"]
    report = attack(prepare(parse_scenario(base, base_dir=str(tmp_path))), time_limit=3.0)
    assert measured > report["worst_error"]  # the run goes beyond the counts searched
    assert not report["exact"], report


def test_convert_says_when_a_regressors_output_is_not_its_prediction(tmp_path, capsys):
    """An MLPRegressor with loss = "poisson" predicts exp(output layer): the network file
    holds the output layer (as a classifier's logits), so convert must say so; it wrote
    the file silently, a network whose outputs are log(predict)."""
    import warnings

    import joblib
    from sklearn.neural_network import MLPRegressor

    from neurosim.data.network import load_network
    from neurosim.front.cli import main

    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (60, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MLPRegressor(hidden_layer_sizes=(5,), loss="poisson", max_iter=50,
                             random_state=0).fit(X, 1.0 + X @ [1.0, 2.0, 3.0])
    joblib.dump(model, tmp_path / "m.joblib")
    assert main(["convert", str(tmp_path / "m.joblib"), str(tmp_path / "n.npz")]) == 0
    out = capsys.readouterr().out
    assert "note:" in out and "exp" in out, out
    net = load_network(tmp_path / "n.npz")
    np.testing.assert_allclose(np.exp(net.forward(X)[:, 0]), model.predict(X), rtol=1e-12)


def test_sweep_reruns_a_point_whose_row_was_cut_short(tmp_path, capsys):
    """A sweep killed while appending a row leaves it cut short (no newline). The point
    counted as done with empty results (its row rewritten with blank cells), and a row
    appended later would have been glued to the cut one."""
    import csv

    from neurosim.front.cli import main

    _cancelling_net(tmp_path / "net.npz")
    (tmp_path / "s.toml").write_text(
        'seed = 0\ntrials = 3\n[network]\nfile = "net.npz"\n[firing]\nrule = "quorum"\n'
        'quorum = [1, 1, 2]\n[failures]\ncrash = [1, 0]\n[sweep]\nseed = [0, 1, 2]\n')
    argv = ["sweep", str(tmp_path / "s.toml"), "--out", str(tmp_path / "out"), "--engine",
            "fast", "--quiet"]
    assert main(argv) == 0
    path = tmp_path / "out" / "sweep.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1] + [",".join(lines[-1].split(",")[:2])]))
    capsys.readouterr()
    assert main(argv) == 0
    assert "ran 1 of 3 points" in capsys.readouterr().out
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and all(r["max_error"] not in ("", None) for r in rows), rows


def test_convert_to_a_path_that_cannot_be_written_is_one_line(tmp_path, capsys):
    """convert into a folder that does not exist (or onto a folder): exit 2 naming the
    output, no file left (was a FileNotFoundError traceback, exit 1)."""
    from tests.test_cli_errors import assert_one_line_error

    _cancelling_net(tmp_path / "net.npz")
    (tmp_path / "dir.npz").mkdir()
    for out in (tmp_path / "none" / "x.npz", tmp_path / "none" / "x.onnx", tmp_path / "dir.npz"):
        assert_one_line_error(capsys, ["convert", tmp_path / "net.npz", out], out)
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize("engine", ["des", "fast"])
def test_a_blocked_trial_has_no_given_set_bound_in_trials_csv(tmp_path, engine):
    """1-2-1 identity net, neuron (1, 0) crashed, wait-all: the output waits forever for
    it, so every trial is blocked. trials.csv gave such a trial bound_given_set = 0.0 (its
    receivers never fired, so no missing signal was counted): a bound of 0 for a trial
    with a crash. A blocked trial has no output, so no error and no bound: empty cells,
    as its error and latency."""
    import csv

    net = make_network([np.array([[1.0], [1.0]]), np.array([[1.0, 1.0]])], None,
                       ["identity"], 0.0, 1.0)
    save_network(net, tmp_path / "n.npz")
    setup = prepare(parse_scenario(
        {"trials": 3, "network": {"file": str(tmp_path / "n.npz")},
         "failures": {"placement": "list", "crashed": [[1, 0]]},
         "latency": {"model": "constant"}, "firing": {"horizon": 10.0}}))
    summary = run_trials(setup, engine, tmp_path / "out")
    with open(tmp_path / "out" / "trials.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert summary["blocked_trials"] == 3 and summary["bound_given_set_max"] is None
    for row in rows:
        assert row["blocked"] == "1" and row["error"] == "" and row["latency"] == ""
        assert row["bound_given_set"] == "" and row["bound_given_set_signed"] == ""
