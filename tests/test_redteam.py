"""Cases an adversarial audit found, each checked against what the engine computes.

Every expected figure comes from the engine itself (a `neurosim run` of the case) or from a
hand derivation written next to it, never from the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import PROFILE, without_unread

from neurosim.attack.run import attack
from neurosim.bounds.signed_batch import given_set_signed_bounds
from neurosim.bounds.weight_aware import given_set_bounds
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


def test_signal_kinds_given_as_nested_lists_count_as_failures():
    """The signed given-set bound with the kinds as nested lists (what a JSON or TOML reader
    gives), weight errors eta > 0: the missing signal was taken for a correct one (a list
    compared with MISSING is False), 0.32 where the error reaches 1.0.

    1-2-1 identity net, y0 = x, y1 = 2x, output y0 - y1 = -x on x in [0.5, 1]; receiver 0
    of the output misses y0: it computes -2x (exact weights), an error of x, 1.0 at x = 1."""
    from neurosim.bounds.signed import given_set_signed_bound
    from neurosim.bounds.weight_aware import given_set_bound

    net = make_network([np.array([[1.0], [2.0]]), np.array([[1.0, -1.0]])],
                       [np.zeros(2), np.zeros(1)], ["identity"], np.array([0.5]),
                       np.array([1.0]))
    as_lists = [[[0], [0]], [[1, 0]]]
    as_arrays = [np.array(k, dtype=np.int8) for k in as_lists]
    for eta in (0.0, 0.1, [0.0, 0.1], [0.1, 0.0]):
        for kinds in (as_lists, as_arrays):
            signed = given_set_signed_bound(net, kinds, eta)
            weight_aware = given_set_bound(net, kinds, eta)
            assert signed >= 1.0 and weight_aware >= 1.0, (eta, kinds, signed, weight_aware)
        assert given_set_signed_bound(net, as_lists, eta) == \
            given_set_signed_bound(net, as_arrays, eta)


def _overflowing_byzantine(path, phi):
    """1-2-1-1 net: layer 1 identity (y0 = y1 = x), layer 2 `phi` with weights [3, -3], a
    linear output of weight 1. Both neurons of layer 1 Byzantine, sending C = 8e307 (the
    `constant` mode): the receiver sums 3C = inf and -3C = -inf, inf - inf = NaN, and
    phi(NaN) = NaN whatever phi's range. A bound that caps phi's deviation by its range
    (1 for sigmoid) holds in real arithmetic, not for the float64 engine."""
    net = make_network([np.array([[1.0], [1.0]]), np.array([[3.0, -3.0]]), np.array([[1.0]])],
                       [np.zeros(2), np.zeros(1), np.zeros(1)], ["identity", phi], 0.0, 1.0)
    save_network(net, path)
    return net


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_byzantine_value_that_overflows_a_sum_gives_no_finite_bound(tmp_path):
    """The engine's output is NaN (brute force below, the engine's own preactivation): no
    finite bound covers it. Every bound for the trial is +inf, and the run reports no
    violation (a bound of +inf says nothing, so nothing breaks it); before, the given-set
    bounds were 4.58 (1 per saturated neuron, plus the output's) and the run exit 1."""
    from neurosim.bounds.signed import given_set_signed_bound, signed_bound
    from neurosim.bounds.weight_aware import CORRUPTED, given_set_bound, weight_aware_bound
    from neurosim.data.counts import failure_counts
    from neurosim.data.network import preactivation

    C = 8e307
    for phi in ("sigmoid", "tanh", "hard_sigmoid", "relu", "identity"):
        net = _overflowing_byzantine(tmp_path / f"{phi}.npz", phi)
        with np.errstate(all="ignore"):
            s = preactivation(net.weights[1], np.array([C, C]), net.biases[1])
            assert np.isnan(net.phis[1](s)).all()  # what the engine computes
        kinds = [np.zeros((2, 1), np.int8), np.full((1, 2), CORRUPTED, np.int8),
                 np.zeros((1, 1), np.int8)]
        f = failure_counts(net, byzantine=[2, 0], capacity=C)
        for value in (given_set_bound(net, kinds, 0.0, C),
                      given_set_signed_bound(net, kinds, 0.0, C),
                      given_set_bounds(net, [k[None] for k in kinds], 0.0, C)[0],
                      given_set_signed_bounds(net, [k[None] for k in kinds], 0.0, C)[0],
                      weight_aware_bound(net, f), signed_bound(net, f)):
            assert value == np.inf, (phi, value)
        data = {"seed": 0, "trials": 3, "network": {"file": f"{phi}.npz"},
                "failures": {"byzantine": [2, 0], "capacity": C,
                             "byzantine_mode": "constant"},
                "latency": {"model": "constant"}}
        setup = prepare(parse_scenario(data, base_dir=str(tmp_path)))
        for engine in ("des", "fast"):
            summary = run_trials(setup, engine)
            assert summary["violations"] == 0, (phi, summary["violation_details"])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_missing_signals_that_make_a_sum_overflow_give_no_finite_bound():
    """No Byzantine value at all: 16 inputs fixed at 1, weights +-a (a = 0.9e308) that
    cancel in pairs in the fault-free run (numpy's pairwise sum adds x_i + x_{i+8} first).
    Four signals missing leave a, a, -a, -a to be paired: inf + -inf = NaN, and
    sigmoid(NaN) = NaN. The failure terms cancel (0) and the sigmoid's range is 1: the
    bounds were 1.0 (weight-aware) and 0 (signed)."""
    from neurosim.bounds.signed import given_set_signed_bound
    from neurosim.bounds.weight_aware import MISSING, given_set_bound
    from neurosim.data.network import preactivation

    a = 0.9e308
    W = np.zeros((1, 16))
    W[0, [0, 9, 2, 11]] = a
    W[0, [8, 1, 10, 3]] = -a
    failed = [1, 2, 8, 11]
    used = np.ones(16)
    used[failed] = 0.0
    with np.errstate(all="ignore"):
        assert preactivation(W, np.ones(16), 0.0)[0] == 0.0
        assert np.isnan(preactivation(W, used, 0.0)[0])  # what the engine computes
    net = make_network([W, np.array([[1.0]])], [np.zeros(1), np.zeros(1)], ["sigmoid"],
                       np.ones(16), np.ones(16))
    kind = np.zeros((1, 16), np.int8)
    kind[0, failed] = MISSING
    kinds = [kind, np.zeros((1, 1), np.int8)]
    with np.errstate(all="ignore"):
        for value in (given_set_bound(net, kinds), given_set_signed_bound(net, kinds),
                      given_set_bounds(net, [k[None] for k in kinds])[0],
                      given_set_signed_bounds(net, [k[None] for k in kinds])[0]):
            assert value == np.inf, value


def test_failure_terms_that_cancel_exactly_still_round_differently(tmp_path):
    """A receiver loses two signals whose terms cancel exactly (1e16 - 1e16 = 0, inputs fixed
    at 1): the failure term r is [0, 0], and the signed bound took the layer for one
    without failure (no rounding term): bound 0. But the two runs sum different terms:
    fault-free 1 + 1e16 - 1e16 = 0 in float64 (1e16 + 1 rounds to 1e16), faulty 1 + 0 + 0
    = 1, an error of 1 (`neurosim run` reported the violation)."""
    from neurosim.bounds.signed import given_set_signed_bound
    from neurosim.bounds.weight_aware import MISSING, given_set_bound
    from neurosim.data.network import preactivation

    W = np.array([[1.0, 1e16, -1e16]])
    net = make_network([W, np.array([[1.0]])], [np.zeros(1), np.zeros(1)], ["identity"],
                       np.ones(3), np.ones(3))
    save_network(net, tmp_path / "net.npz")
    error = abs(preactivation(W, np.array([1.0, 0.0, 0.0]), 0.0)[0]
                - preactivation(W, np.ones(3), 0.0)[0])
    assert error == 1.0  # the engine's own sums
    kinds = [np.array([[0, MISSING, MISSING]], np.int8), np.zeros((1, 1), np.int8)]
    for value in (given_set_signed_bound(net, kinds), given_set_bound(net, kinds),
                  given_set_signed_bounds(net, [k[None] for k in kinds])[0]):
        assert value >= error, value
    # The engine: quorum 1 at layer 1, two of its three synapses lost in each trial.
    data = {"seed": 0, "trials": 12, "network": {"file": "net.npz"},
            "failures": {"synapse_crash": [2, 0]}, "latency": {"model": "constant"},
            "firing": {"rule": "quorum", "quorum": [1, 1]}}
    setup = prepare(parse_scenario(data, base_dir=str(tmp_path)))
    for engine in ("des", "fast"):
        summary = run_trials(setup, engine)
        assert summary["max_error"] >= 1.0  # the case arose
        assert summary["violations"] == 0, summary["violation_details"]


def test_a_capacity_whose_range_overflows_is_an_input_error(tmp_path, capsys):
    """capacity = 1e308 with Byzantine values drawn in [-C, C] (byzantine_mode = "random"):
    the draw's width 2e308 overflows (was an OverflowError traceback, exit 1). One line
    naming failures.capacity, exit 2; just below 2**1023 the width is a float64 and the run
    works, and so does 1e308 where nothing is drawn (the adversarial mode)."""
    from neurosim.front.cli import main

    below = float(np.nextafter(2.0 ** 1023, 0.0))
    for capacity, mode, status in ((1e308, "random", 2), (2.0 ** 1023, "random", 2),
                                   (below, "random", None), (1e308, "adversarial", None)):
        path = tmp_path / "s.toml"
        path.write_text(f'seed = 0\ntrials = 2\n[network]\nsizes = [2, 3, 1]\n[failures]\n'
                        f'byzantine = 1\ncapacity = {capacity!r}\nbyzantine_mode = "{mode}"\n')
        code = main(["run", str(path), "--out", str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert "Traceback" not in err
        if status is None:
            assert code in (0, 1), err
        else:
            assert code == status, err
            assert "failures.capacity" in err and len(err.strip().splitlines()) == 1, err


def test_weight_aware_stays_below_the_paper_where_a_sum_may_overflow():
    """A Byzantine capacity just below max / N: the weight-aware bound is +inf where the
    faulty sums may overflow (inflated by their rounding); the paper's Fep, whose faulty
    magnitude is never smaller, must be +inf there too, or the chain breaks; and a given
    set within the counts (one corrupted signal) +inf only where the worst case is."""
    from neurosim.bounds.paper import paper_fep
    from neurosim.bounds.rounding import bounds_ordered
    from neurosim.bounds.weight_aware import CORRUPTED, given_set_bound, weight_aware_bound
    from neurosim.data.counts import failure_counts

    top = np.finfo(float).max
    infinite = 0
    for n in (2, 3, 7):
        net = make_network([np.ones((n, 1)), np.ones((1, n)), np.array([[1e-3]])],
                           [np.zeros(n), np.zeros(1), np.zeros(1)], ["identity", "sigmoid"],
                           0.0, 1.0)
        for frac in np.linspace(1 - 1e-13, 1.0, 16):
            f = failure_counts(net, byzantine=[1, 0], capacity=top / n * frac)
            kinds = [np.zeros((n, 1), np.int8), np.zeros((1, n), np.int8),
                     np.zeros((1, 1), np.int8)]
            kinds[1][0, 0] = CORRUPTED  # the given set within the counts
            with np.errstate(all="ignore"):
                wa = weight_aware_bound(net, f, local=False)
                local = weight_aware_bound(net, f)
                given = given_set_bound(net, kinds, 0.0, f.capacity)
                assert bounds_ordered(given, local), (n, frac, given, local)
                assert bounds_ordered(local, wa)
                assert bounds_ordered(wa, paper_fep(net, f).fep), (n, frac)
            infinite += wa == np.inf
    assert 0 < infinite < 48  # both sides of the threshold were tried


# ---------------------------------------------------------------- property attacks

ACTS = ["sigmoid", "tanh", "relu", "identity", "hard_sigmoid"]


def _extreme_network(rng):
    """A tiny network with weights from 0.3 to 1e100, exact zeros and -0.0 among them, and
    input boxes of which some coordinates are single points (exact failure terms)."""
    sizes = [int(rng.integers(1, 4))] + [int(rng.integers(1, 5))
                                         for _ in range(int(rng.integers(1, 3)))]
    sizes.append(int(rng.integers(1, 3)))
    scale = float(rng.choice([0.3, 1.0, 3.0, 30.0, 1e100]))
    ws, bs = [], []
    for m, n in zip(sizes, sizes[1:]):
        W = rng.uniform(-scale, scale, (n, m))
        draw = rng.random(W.shape)
        W[draw < 0.15] = 0.0
        W[(draw >= 0.15) & (draw < 0.25)] = -0.0
        ws.append(W)
        b = rng.uniform(-scale, scale, n)
        b[rng.random(n) < 0.3] = -0.0
        bs.append(b)
    lo = rng.uniform(-2.0, 1.0, sizes[0])
    hi = lo + rng.uniform(0.0, 2.5, sizes[0]) * (rng.random(sizes[0]) > 0.3)
    acts = [str(a) for a in rng.choice(ACTS, len(sizes) - 2)]
    return make_network(ws, bs, acts, lo, hi)


def _block_of_kinds(net, rng, trials):
    """Trials of every shape in one block: nothing failed, one layer only, a crashed
    sender (a missing column), sparse and dense mixtures of missing and corrupted."""
    from neurosim.bounds.weight_aware import CORRECT, CORRUPTED, MISSING

    block = [np.zeros((trials, *W.shape), np.int8) for W in net.weights]
    for t in range(trials):
        style = rng.integers(0, 5)
        only = rng.integers(0, len(net.weights))
        for l, W in enumerate(net.weights):
            if style == 0 or (style == 1 and l != only):
                continue
            if style == 2:
                if l:
                    block[l][t][:, rng.integers(0, W.shape[1])] = MISSING
                continue
            p = float(rng.choice([0.1, 0.3, 0.6]))
            kind = rng.choice([MISSING, CORRUPTED], W.shape, p=[0.6, 0.4])
            block[l][t] = np.where(rng.random(W.shape) < p, kind, CORRECT)
    return block


def _engine_forward(net, X, kinds, values, weights):
    """What the engine computes for inputs X (n, N_0): each receiver's used values (0 where
    missing, `values` where corrupted), through the engine's own `preactivation`."""
    from neurosim.bounds.weight_aware import CORRUPTED, MISSING
    from neurosim.data.network import preactivation

    y = X
    for l in range(1, net.depth + 2):
        u = np.repeat(y[:, None, :], net.weights[l - 1].shape[0], axis=1)
        if kinds is not None:
            u = np.where(kinds[l - 1] == MISSING, 0.0, u)
            u = np.where(kinds[l - 1] == CORRUPTED, values[l - 1], u)
        s = preactivation(weights[l - 1], u, net.biases[l - 1])
        y = net.phis[l - 1](s) if l <= net.depth else s
    return y


def _brute_force_error(net, kinds, etas, C, rng):
    """The largest engine error over the input box's corners and random points, for
    Byzantine values +-C by the weights' signs, all +-C, and random ones in [-C, C], and
    weights off by +-eta (NaN errors count as +inf)."""
    import itertools

    lo, hi = net.input_low, net.input_high
    corners = np.array(list(itertools.product([0.0, 1.0], repeat=len(lo))))
    X = np.vstack([lo + corners * (hi - lo), rng.uniform(lo, hi, (12, len(lo)))])
    clean = _engine_forward(net, X, None, None, net.weights)
    worst = 0.0
    for rep in range(8):
        values = []
        for W in net.weights:
            sign = np.where(W >= 0, 1.0, -1.0)
            values.append([C * sign, -C * sign, C * rng.choice([-1.0, 1.0], W.shape),
                           rng.uniform(-C, C, W.shape)][rep % 4])
        weights = [W + e * rng.choice([-1.0, 1.0], W.shape) if e else W
                   for W, e in zip(net.weights, etas)]
        err = np.abs(_engine_forward(net, X, kinds, values, weights) - clean)
        worst = max(worst, float(np.inf if np.isnan(err).any() else err.max()))
    return worst


@settings(max_examples=150, **PROFILE)
@given(st.integers(0, 2**32 - 1))
def test_given_set_bounds_against_brute_force_on_extreme_tiny_networks(seed):
    """Blocks mixing trials where a correct signal adds exactly 0 (eta = 0 in that layer,
    or nothing deviates) with trials where it does not; eta > 0 in some layers only; C up
    to 1e300; weights up to 1e100. Each trial: block == alone, bit for bit (both bounds),
    given-set signed <= given-set, and the engine's error by brute force below both."""
    from neurosim.bounds.signed import given_set_signed_bound
    from neurosim.bounds.weight_aware import given_set_bound

    rng = np.random.default_rng(seed)
    net = _extreme_network(rng)
    with np.errstate(all="ignore"):
        if not np.isfinite(net.forward(np.vstack([net.input_low, net.input_high]))).all():
            return  # refused by `prepare`: the fault-free run overflows
        trials = int(rng.integers(1, 6))
        block = _block_of_kinds(net, rng, trials)
        etas = [float(e) for e in rng.choice([0.0, 0.0, 0.01, 0.1], len(net.weights))]
        C = float(rng.choice([0.0, 0.5, 1.0, 1e6, 1e300]))
        given = given_set_bounds(net, block, etas, C)
        signed = given_set_signed_bounds(net, block, etas, C)
        for t in range(trials):
            kinds = [k[t] for k in block]
            alone = (given_set_bound(net, kinds, etas, C),
                     given_set_signed_bound(net, kinds, etas, C))
            assert np.array(alone).tobytes() == np.array([given[t], signed[t]]).tobytes()
            assert signed[t] <= given[t]
            measured = _brute_force_error(net, kinds, etas, C, rng)
            assert measured <= signed[t], (seed, t, measured, signed[t], given[t])


def _extreme_scenario(rng, net_file: str) -> dict:
    """A scenario on an `_extreme_network`: every failure kind, eta in some layers only, C
    up to 1e300, horizons that cut messages, every firing rule, exponential and Pareto
    delays (drawn in place) among others."""
    net = _extreme_network(rng)
    from neurosim.data.network import save_network as save

    save(net, net_file)
    hidden = net.sizes[1:-1]
    crash = [int(rng.integers(0, n // 2 + 1)) for n in hidden]
    failures = {"crash": crash,
                "byzantine": [int(rng.integers(0, (n - c) // 2 + 1))
                              for n, c in zip(hidden, crash)],
                "capacity": float(rng.choice([0.0, 1.0, 1e6, 1e300])),
                "byzantine_mode": str(rng.choice(["adversarial", "random", "constant"])),
                "synapse_crash": int(rng.integers(0, 2)),
                "synapse_byzantine": int(rng.integers(0, 2))}
    if rng.random() < 0.5:
        failures["precision"] = [float(e) for e in rng.choice([0.0, 0.0, 0.05],
                                                              len(net.weights))]
    latency = [{"model": "constant"}, {"model": "exponential", "mean": 0.7},
               {"model": "pareto", "alpha": 1.5}, {"model": "uniform", "mean": 1.0}][
        int(rng.integers(0, 4))]
    rule = str(rng.choice(["wait-all", "quorum", "timeout", "quorum-or-timeout"]))
    firing = {"rule": rule, "horizon": float(rng.choice([200.0, 0.5, 2.5, 4.0]))}
    if "timeout" in rule:
        firing["timeout"] = float(rng.choice([0.5, 2.0]))
    if "quorum" in rule:
        firing["quorum"] = [int(rng.integers(max(1, n - 2), n + 1)) for n in net.sizes[:-1]]
    return {"seed": int(rng.integers(0, 10**6)), "trials": 9, "network": {"file": net_file},
            "inputs": {"kind": str(rng.choice(["uniform", "corner"]))},
            "failures": without_unread(failures), "latency": latency, "firing": firing}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@settings(max_examples=40, **PROFILE)
@given(st.integers(0, 2**32 - 1))
def test_extreme_scenarios_same_rows_in_every_engine_and_block(seed):
    """`run` on extreme scenarios: the SimPy engine, the block engine one trial at a time,
    three at a time and at its own block size write the same trials.csv, byte for byte, and
    no trial's error exceeds its bounds."""
    import tempfile
    from pathlib import Path

    from neurosim.errors import InputError

    with tempfile.TemporaryDirectory() as tmp:
        data = _extreme_scenario(np.random.default_rng(seed), str(Path(tmp) / "net.npz"))
        try:
            setup = prepare(parse_scenario(data))
        except InputError:
            return  # counts that do not fit a layer, outputs that overflow: refused
        rows = {}
        for engine, block in (("des", None), ("fast", None), ("fast", 1), ("fast", 3)):
            out = Path(tmp) / f"{engine}-{block}"
            summary = run_trials(setup, engine, out, block=block)
            assert summary["violations"] == 0, (seed, summary["violation_details"])
            rows[engine, block] = (out / "trials.csv").read_bytes()
        assert len(set(rows.values())) == 1, (seed, data)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_given_set_stays_below_the_worst_case_where_sums_are_near_overflow(tmp_path):
    """1-1-1-1 net, identity then sigmoid, inputs up to 1.5e308, the hidden neuron
    Byzantine with C = 8e307 (constant mode): the faulty sum is 8e307, no overflow, and the
    worst case says so. The given-set bound's magnitude of the faulty sum counted the
    Byzantine sender twice (B + C = 2.3e308): +inf where the worst case is 1.0, a broken
    chain in every trial."""
    net = make_network([np.array([[1.0]]), np.array([[1.0]]), np.array([[1.0]])],
                       [np.zeros(1), np.zeros(1), np.zeros(1)], ["identity", "sigmoid"],
                       0.0, 1.5e308)
    save_network(net, tmp_path / "net.npz")
    data = {"seed": 0, "trials": 3, "network": {"file": "net.npz"},
            "failures": {"byzantine": [1, 0], "capacity": 8e307,
                         "byzantine_mode": "constant"},
            "latency": {"model": "constant"}}
    setup = prepare(parse_scenario(data, base_dir=str(tmp_path)))
    for engine in ("des", "fast"):
        summary = run_trials(setup, engine)
        assert summary["violations"] == 0, summary["violation_details"]
        assert summary["bound_weight_aware"] < 2.0


def test_the_weight_aware_magnitude_does_not_overflow_before_its_total():
    """Three senders, one Byzantine with C = 8e307, eta = 0.1 on their receiver: the faulty
    run's sum of magnitudes is at most (0.1 + 0.1) * 3 * 8e307 = 4.8e307, finite. The
    weight-aware bound summed the values first (3 * 8e307 = inf) and came out +inf above a
    finite paper's Fep: the chain broke (`neurosim run` exit 1)."""
    from neurosim.bounds.paper import paper_fep
    from neurosim.bounds.rounding import bounds_ordered
    from neurosim.bounds.signed import signed_bound
    from neurosim.bounds.weight_aware import weight_aware_bound
    from neurosim.data.counts import failure_counts

    for phi in ("relu", "identity", "sigmoid"):
        net = make_network([np.ones((3, 1)), np.full((1, 3), 0.1), np.ones((1, 1))],
                           [np.zeros(3), np.zeros(1), np.zeros(1)], ["identity", phi],
                           0.0, 1.0)
        f = failure_counts(net, byzantine=[1, 0], capacity=8e307,
                           precision=[0.0, 0.1, 0.0])
        with np.errstate(all="ignore"):
            paper = paper_fep(net, f).fep
            wa_global = weight_aware_bound(net, f, local=False)
            wa = weight_aware_bound(net, f)
            signed = signed_bound(net, f)
        assert paper < np.inf  # the case this test is for
        assert bounds_ordered(signed, wa) and bounds_ordered(wa, wa_global)
        assert bounds_ordered(wa_global, paper), (phi, wa_global, paper)

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
