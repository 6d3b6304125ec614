"""Regressions of the input audit: bad input never becomes a false result or a traceback.

Each case lives in tests/regressions/<n>/ (its README says what went wrong).
Bad input must give exit status 2 and one line on stderr naming the file and
the key (or the command-line flag); wrong results are checked against an
independent reference (scikit-learn, the input box itself, a rerun).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from cli_helpers import one_line_error

from neurosim.front.cli import main

REG = Path(__file__).resolve().parent / "regressions"




def write(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(body)
    return path


# ------------------------------------------------------------ 3: inputs outside the input box


def test_3_file_inputs_outside_box(tmp_path, capsys):
    for name in ("scenario.toml", "scenario_auto.toml"):
        path = REG / "3" / name
        for cmd in (["run", path, "--out", tmp_path / name, "--engine", "fast"], ["bound", path]):
            one_line_error(capsys, cmd, path, "inputs.file", "row 0")


def test_3_first_offending_row_and_column(tmp_path, capsys):
    # Rows 0 and 1 inside the box [-1, 2] x [0, 1], row 2 outside in its second column.
    shutil.copy(REG / "3" / "net.npz", tmp_path / "net.npz")
    np.save(tmp_path / "x.npy", np.array([[-1.0, 0.0], [2.0, 1.0], [0.5, 1.5], [9.0, 9.0]]))
    path = write(tmp_path, "s.toml", 'trials = 2\n[network]\nfile = "net.npz"\n'
                 "input_low = [-1.0, 0.0]\ninput_high = [2.0, 1.0]\n"
                 '[inputs]\nkind = "file"\nfile = "x.npy"\n')
    one_line_error(capsys, ["run", path, "--out", tmp_path / "o"], path, "inputs.file",
                   "row 2", "1.5")
    # Inside the box (edges included) it runs.
    np.save(tmp_path / "x.npy", np.array([[-1.0, 0.0], [2.0, 1.0]]))
    assert main(["run", str(path), "--out", str(tmp_path / "o"), "--engine", "fast"]) == 0
    capsys.readouterr()


def test_3_dataset_outside_a_narrower_box(tmp_path, capsys):
    # The digits are in [0, 1]; a network box [0, 0.5] does not hold them.
    path = write(tmp_path, "s.toml", "trials = 2\n[network]\nsizes = [64, 4, 10]\n"
                 'input_high = 0.5\n[inputs]\nkind = "dataset"\n')
    one_line_error(capsys, ["bound", path], path, "inputs.kind", "row ")


# ------------------------------------------------------------ 4: one neuron in two failure lists


def test_4_neuron_crashed_and_byzantine(tmp_path, capsys):
    for name in ("scenario.toml", "scenario_auto.toml"):
        path = REG / "4" / name
        one_line_error(capsys, ["run", path, "--out", tmp_path, "--engine", "fast"], path,
                       "failures.byzantine_list", "[1, 0]")
        one_line_error(capsys, ["bound", path], path, "failures.byzantine_list", "[1, 0]")


def test_4_overlap_found_anywhere_in_the_lists(tmp_path, capsys):
    # The shared neuron is not the first of either list, in another layer.
    path = write(tmp_path, "s.toml", "trials = 2\n[network]\nsizes = [2, 3, 3, 1]\n"
                 '[failures]\nplacement = "list"\ncrashed = [[1, 0], [2, 2]]\n'
                 "byzantine_list = [[1, 1], [2, 2]]\n")
    one_line_error(capsys, ["bound", path], path, "failures.byzantine_list", "[2, 2]", "crashed")
    # Disjoint lists are fine.
    path.write_text(path.read_text().replace("[[1, 1], [2, 2]]", "[[1, 1], [2, 1]]"))
    assert main(["bound", str(path)]) == 0
    capsys.readouterr()


# ------------------------------------------------------------ 8: bad empirical latency file


def test_8_bad_latency_file(tmp_path, capsys):
    for name in ("missing.toml", "negative.toml", "missing_auto.toml"):
        path = REG / "8" / name
        for cmd in (["run", path, "--out", tmp_path, "--engine", "fast"], ["bound", path]):
            err = one_line_error(capsys, cmd, path, "latency.file")
            assert "firing.quorum" not in err


def test_8_every_kind_of_bad_latency_file(tmp_path, capsys):
    bad = {"nan.npy": np.array([1.0, np.nan]), "inf.npy": np.array([1.0, np.inf]),
           "empty.npy": np.zeros(0), "wide.npy": np.ones((3, 2)), "neg.npy": np.array([-0.1])}
    for f, arr in bad.items():
        np.save(tmp_path / f, arr)
    (tmp_path / "words.txt").write_text("1.0\nfast\n")
    (tmp_path / "blank.txt").write_text("")
    (tmp_path / "folder").mkdir()
    for f in [*bad, "words.txt", "blank.txt", "folder"]:
        for quorum in ("", '[firing]\nrule = "quorum"\nquorum = "auto"\nepsilon = 1.0\n'):
            path = write(tmp_path, "s.toml", "trials = 2\n[network]\nsizes = [2, 3, 1]\n"
                         f'[latency]\nmodel = "empirical"\nfile = "{f}"\n' + quorum)
            one_line_error(capsys, ["run", path, "--out", tmp_path / "o", "--engine", "fast"],
                           path, "latency.file", f)


# ------------------------------------------------------------ 9: one-output classifiers


def read_rows(folder: Path) -> list[dict[str, str]]:
    import csv

    with open(folder / "trials.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_9_binary_classifier_accuracy(tmp_path, capsys):
    import json

    path = REG / "9" / "scenario.toml"
    assert main(["run", str(path), "--out", str(tmp_path), "--engine", "fast"]) == 0
    capsys.readouterr()
    summary = json.loads((tmp_path / "summary.json").read_text())
    # scikit-learn's own score on these 50 inputs (make.py) is 0.98; no failures here.
    assert summary["fault_free_accuracy"] == 0.98
    assert summary["accuracy"] == 0.98
    assert all(r["prediction"] in ("0", "1") for r in read_rows(tmp_path))


def test_9_predictions_equal_sklearn_predict(tmp_path, capsys):
    import warnings

    import joblib
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    rng = np.random.default_rng(3)
    X = rng.uniform(0, 1, (300, 3))
    y = (X[:, 0] + 0.5 * X[:, 1] > X[:, 2] + 0.2).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier(hidden_layer_sizes=(5, 4), activation="tanh", max_iter=500,
                              random_state=1).fit(X[:200], y[:200])
    joblib.dump(model, tmp_path / "m.joblib")
    assert main(["convert", str(tmp_path / "m.joblib"), str(tmp_path / "net.npz")]) == 0
    x_eval, y_eval = X[200:], y[200:]
    np.save(tmp_path / "x.npy", x_eval)
    np.save(tmp_path / "y.npy", y_eval)
    path = write(tmp_path, "s.toml", 'trials = 100\n[network]\nfile = "net.npz"\n'
                 '[inputs]\nkind = "file"\nfile = "x.npy"\nlabels = "y.npy"\n')
    assert main(["run", str(path), "--out", str(tmp_path / "o"), "--engine", "fast"]) == 0
    capsys.readouterr()
    rows = read_rows(tmp_path / "o")
    expected = model.predict(x_eval)
    assert [int(r["fault_free_prediction"]) for r in rows] == list(expected)
    assert [int(r["prediction"]) for r in rows] == list(expected)  # no failures
    assert 0 < expected.mean() < 1  # both classes occur: the test can tell them apart


# ------------------------------------------------------------ 10: sweep with a changed base


def sweep_rows(out: Path) -> list[dict[str, str]]:
    import csv

    with open(out / "sweep.csv", newline="") as f:
        return list(csv.DictReader(f))


def point_summaries(out: Path) -> list[dict]:
    import json

    return [json.loads((out / "points" / r["point"] / "summary.json").read_text())
            for r in sweep_rows(out)]


def test_10_sweep_reruns_points_of_a_changed_base(tmp_path, capsys):
    out = tmp_path / "out"
    for name in ("sweep.toml", "sweep_edited.toml"):
        shutil.copy(REG / "10" / name, tmp_path / name)
    argv = ["sweep", str(tmp_path / "sweep.toml"), "--out", str(out), "--engine", "fast",
            "--quiet"]
    assert main(argv) == 0
    assert [s["trials"] for s in point_summaries(out)] == [30, 30]
    capsys.readouterr()

    argv[1] = str(tmp_path / "sweep_edited.toml")  # seed 6, 7 trials: every point is stale
    assert main(argv) == 0
    assert "ran 2 of 2 points" in capsys.readouterr().out
    rows = sweep_rows(out)
    assert len(rows) == 2 and {r["trials"] for r in rows} == {"7"}
    assert {(s["seed"], s["trials"]) for s in point_summaries(out)} == {(6, 7)}

    assert main(argv) == 0  # nothing changed since: nothing is run again
    assert "ran 0 of 2 points" in capsys.readouterr().out
    assert sweep_rows(out) == rows


def test_10_sweep_notices_a_changed_network_file(tmp_path, capsys):
    out = tmp_path / "out"
    rng = np.random.default_rng(0)
    arrays = {"W1": rng.normal(size=(3, 2)), "W2": rng.normal(size=(1, 3)),
              "activations": np.array(["tanh"])}
    np.savez(tmp_path / "net.npz", **arrays)
    path = write(tmp_path, "s.toml", 'trials = 3\n[network]\nfile = "net.npz"\n'
                 '[failures]\ncrash = 1\n[sweep]\n"latency.model" = ["constant", "exponential"]\n')
    argv = ["sweep", str(path), "--out", str(out), "--engine", "fast", "--quiet"]
    assert main(argv) == 0
    before = [s["bound_paper"] for s in point_summaries(out)]
    capsys.readouterr()
    arrays["W2"] = 10 * arrays["W2"]  # same file name, other weights: the bounds change
    np.savez(tmp_path / "net.npz", **arrays)
    assert main(argv) == 0
    assert "ran 2 of 2 points" in capsys.readouterr().out
    after = [s["bound_paper"] for s in point_summaries(out)]
    assert len(after) == 2 and all(a > b for a, b in zip(after, before, strict=True))


# ------------------------------------------------------------ 11: smaller input checks


def test_11_scenario_input_box(tmp_path, capsys):
    for name in ("input_low_nan.toml", "input_box_inverted.toml", "input_low_len.toml"):
        path = REG / "11" / name
        err = one_line_error(capsys, ["bound", path], path, "network.input_low")
        assert "network.sizes" not in err and "broadcast" not in err


def test_11_scenario_input_box_variants(tmp_path, capsys):
    net = REG / "11" / "ok.npz"
    for body, key in [("input_high = [1.0, inf]", "network.input_high"),
                      ('input_low = "a"', "network.input_low"),
                      ("input_high = [1.0, 1.0, 1.0, 1.0]", "network.input_high"),
                      ("input_low = 0.5\ninput_high = [1.0, 0.25]", "network.input_low"),
                      # A file's box [0, 1] and a scenario input_low above its input_high.
                      (f'input_low = 2.0\nfile = "{net}"', "network.input_low")]:
        sizes = "" if "file" in body else "sizes = [2, 2, 1]\n"
        path = write(tmp_path, "s.toml", f"[network]\n{sizes}{body}\n")
        one_line_error(capsys, ["bound", path], path, key)


def test_11_file_box_keeps_the_side_not_given(tmp_path, capsys):
    """input_low alone in the scenario keeps the network file's input_high."""
    import json

    arrays = dict(np.load(REG / "11" / "ok.npz"))
    np.savez(tmp_path / "net.npz", **arrays, input_high=np.array([3.0, 4.0]))
    path = write(tmp_path, "s.toml", '[network]\nfile = "net.npz"\ninput_low = -1.0\n'
                 "[failures]\ncrash = 1\n")
    assert main(["bound", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    # B_0, the largest |input| over the box, is that of [-1, 3] x [-1, 4].
    assert report["B_per_layer"][0] == 4.0


def test_11_booleans_are_not_numbers(tmp_path, capsys):
    path = REG / "11" / "crash_true.toml"
    one_line_error(capsys, ["run", path, "--out", tmp_path / "o"], path, "failures.crash")
    for body, key in [("trials = true\n[network]\nsizes = [2, 2, 1]", ": trials:"),
                      ("seed = false\n[network]\nsizes = [2, 2, 1]", ": seed:"),
                      ("[network]\nsizes = [2, true, 1]", "network.sizes"),
                      ("[network]\nsizes = [2, 2, 1]\nweight_scale = true", "network.weight_scale"),
                      ("[network]\nsizes = [2, 2, 1]\ninput_high = true", "network.input_high"),
                      ("[network]\nsizes = [2, 2, 1]\n[failures]\ncrash = [true]",
                       "failures.crash"),
                      ('[network]\nsizes = [2, 2, 1]\n[failures]\nplacement = "list"\n'
                       "crashed = [[true, 0]]", "failures.crashed"),
                      ("[network]\nsizes = [2, 2, 1]\n[latency]\nmean = true", "latency.mean"),
                      ('[network]\nsizes = [2, 2, 1]\n[firing]\nrule = "timeout"\ntimeout = true',
                       "firing.timeout")]:
        path = write(tmp_path, "s.toml", body + "\n")
        one_line_error(capsys, ["bound", path], path, key)


def test_11_bad_network_arrays(capsys):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning: refused, not truncated
        for name, key in (("input_low_str.npz", "input_low"), ("complex.npz", "W1")):
            path = REG / "11" / name
            one_line_error(capsys, ["bound", path], path, key)


def test_11_bad_network_array_variants(tmp_path, capsys):
    base = dict(np.load(REG / "11" / "ok.npz"))
    for change, key in [({"b1": np.array(["x", "y"])}, "b1"),
                        ({"input_high": np.array([1 + 1j, 2])}, "input_high"),
                        ({"W2": np.array([[1.0, 2.0]], dtype=object)}, "W2"),
                        ({"input_low": np.array(True)}, "input_low")]:
        path = tmp_path / "net.npz"
        np.savez(path, **{**base, **change})
        one_line_error(capsys, ["bound", path], path, key)


def test_11_bound_flags(capsys):
    net = REG / "11" / "ok.npz"
    one_line_error(capsys, ["bound", net, "--crash", "-1"], net, "--crash")
    for eps in ("nan", "-1", "0", "inf"):
        one_line_error(capsys, ["bound", net, "--epsilon", eps], "--epsilon")
    assert main(["bound", str(net), "--crash", "0", "--epsilon", "0.5"]) == 0
    capsys.readouterr()


def test_11_more_input_files(tmp_path, capsys):
    """The same checks for the other files a scenario reads: inputs, labels, delays."""
    shutil.copy(REG / "11" / "ok.npz", tmp_path / "net.npz")  # 2 inputs, 1 output
    arrays = {"x_str": np.array([["a", "b"]]), "x_cplx": np.array([[0.5 + 1j, 0.5]]),
              "x": np.array([[0.5, 0.5], [0.1, 0.2]]), "y_half": np.array([0.5, 1.0]),
              "y_str": np.array(["a", "b"]), "y_neg": np.array([-1, 1]),
              "y_two": np.array([1, 2]), "d_str": np.array(["1.0"]),
              "d_cplx": np.array([1 + 1j]), "d_bool": np.array([True])}
    for name, arr in arrays.items():
        np.save(tmp_path / f"{name}.npy", arr)
    net = '[network]\nfile = "net.npz"\n'
    cases = [('[inputs]\nkind = "file"\nfile = "x_str.npy"', "inputs.file"),
             ('[inputs]\nkind = "file"\nfile = "x_cplx.npy"', "inputs.file"),
             ('[inputs]\nkind = "file"\nfile = "x.npy"\nlabels = "y_half.npy"', "inputs.labels"),
             ('[inputs]\nkind = "file"\nfile = "x.npy"\nlabels = "y_str.npy"', "inputs.labels"),
             ('[inputs]\nkind = "file"\nfile = "x.npy"\nlabels = "y_neg.npy"', "inputs.labels"),
             # one output: the classes are 0 and 1
             ('[inputs]\nkind = "file"\nfile = "x.npy"\nlabels = "y_two.npy"', "inputs.labels"),
             ('[inputs]\nkind = "uniform"\nlabels = "y_neg.npy"', "inputs"),
             ('[latency]\nmodel = "empirical"\nfile = "d_str.npy"', "latency.file"),
             ('[latency]\nmodel = "empirical"\nfile = "d_cplx.npy"', "latency.file"),
             ('[latency]\nmodel = "empirical"\nfile = "d_bool.npy"', "latency.file")]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # refused, not truncated with a ComplexWarning
        for body, key in cases:
            path = write(tmp_path, "s.toml", f"trials = 2\n{net}{body}\n")
            one_line_error(capsys, ["run", path, "--out", tmp_path / "o", "--engine", "fast"],
                           path, key)


def test_11_more_scenario_keys(tmp_path, capsys):
    for body, key in [('[network]\nsizes = [2, 3, 1]\nactivation = ["tanh", "relu"]',
                       "network.activation"),
                      ('name = "../elsewhere"\n[network]\nsizes = [2, 1]', ": name:"),
                      ('name = ""\n[network]\nsizes = [2, 1]', ": name:")]:
        path = write(tmp_path, "s.toml", body + "\n")
        one_line_error(capsys, ["bound", path], path, key)


def test_11_more_files_and_folders(tmp_path, capsys):
    np.savez(tmp_path / "w0d.npz", W1=np.array(1.0), W2=np.ones((1, 3)),
             activations=np.array(["tanh"]))
    one_line_error(capsys, ["bound", tmp_path / "w0d.npz"], "w0d.npz", "W1")
    scn = write(tmp_path, "s.toml", 'trials = 2\n[network]\nsizes = [2, 2, 1]\n'
                '[sweep]\n"failures.crash" = [0]\n')
    for cmd in ("run", "sweep"):  # --out names a file
        one_line_error(capsys, [cmd, scn, "--out", scn], "--out")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "sweep.csv").write_text("a,b\n1,2\n")
    one_line_error(capsys, ["sweep", scn, "--out", foreign], "sweep.csv", "point")
    assert (foreign / "sweep.csv").read_text() == "a,b\n1,2\n"  # not overwritten
    one_line_error(capsys, ["plot", foreign], foreign)
    results = tmp_path / "results"
    results.mkdir()
    (results / "trials.csv").write_text("trial,error\n0,1\n")
    for text in ("{bad", "{}"):
        (results / "summary.json").write_text(text)
        one_line_error(capsys, ["plot", results], results)


# ------------------------------------------------------------ 5 (part): strict JSON, plots


def strict_loads(text: str):
    """json.loads that refuses the non-standard NaN / Infinity tokens."""
    import json

    def refuse(token):
        raise AssertionError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def test_5_json_output_is_strict(tmp_path, capsys):
    """Regression 5's network: its bounds overflow to +inf (sound). Every JSON output
    must still parse with a strict parser, and say "Infinity" as a string."""
    path = REG / "5" / "scenario.toml"
    assert main(["bound", str(path), "--json"]) == 0
    report = strict_loads(capsys.readouterr().out)
    assert report["bound_paper"] == "Infinity"
    code = main(["run", str(path), "--out", str(tmp_path / "o"), "--engine", "fast", "--json"])
    out, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in err
    for summary in (strict_loads(out), strict_loads((tmp_path / "o" / "summary.json").read_text())):
        assert summary["bound_paper"] == "Infinity" and summary["max_error"] == 1.0


def test_5_strict_json_round_trip():
    from neurosim.data import strict_json

    obj = {"a": float("nan"), "b": [float("inf"), -np.inf, np.float64(2.5)], "c": np.int64(3),
           "d": (1, None), "e": np.array([np.nan, 1.0])}
    text = strict_json.dumps(obj)
    assert strict_loads(text) == {"a": None, "b": ["Infinity", "-Infinity", 2.5], "c": 3,
                                  "d": [1, None], "e": [None, 1.0]}
    back = strict_json.loads(text)
    assert back["b"][:2] == [np.inf, -np.inf]
    assert float(strict_loads(text)["b"][0]) == np.inf  # float() reads the string back


def fake_results(out: Path, errors: list, bound: str) -> None:
    """A results folder as `run` writes it, every trial's error given (NaN: empty cell)."""
    import json

    from neurosim.runner import FIELDS

    out.mkdir(parents=True, exist_ok=True)
    lines = [",".join(FIELDS)]
    for i, e in enumerate(errors):
        row = {k: "0" for k in FIELDS} | {"trial": str(i), "error": e, "bound_given_set": bound,
                                         "latency": "1.0", "prediction": "",
                                         "fault_free_prediction": "", "label": ""}
        lines.append(",".join(row[k] for k in FIELDS))
    (out / "trials.csv").write_text("\n".join(lines) + "\n")
    summary = {"scenario": "fake", "trials": len(errors), "blocked_trials": 0, "violations": 0,
               "bound_paper": "Infinity", "bound_weight_aware": None,
               "bound_weight_aware_global_k": 0.0, "certificate_epsilon": None}
    (out / "summary.json").write_text(json.dumps(summary))


def test_5_plots_of_nan_or_zero_errors(tmp_path):
    from neurosim.front.plots import plot_results

    for name, errors, bound in (("nan", ["", ""], ""), ("zero", ["0", "0"], "0"),
                                ("inf", ["inf", ""], "inf")):
        fake_results(tmp_path / name, errors, bound)
        paths = plot_results(tmp_path / name)
        assert paths and all(p.stat().st_size > 0 for p in paths)



def test_5_huge_finite_values_do_not_crash_the_plots(tmp_path, capsys):
    """Errors and bounds near 1e308 (a Byzantine capacity of 1e308): a log axis up to
    there overflows in matplotlib; the run still ends with its results, no traceback."""
    np.savez(tmp_path / "net.npz", W1=np.ones((3, 2)), W2=np.ones((1, 3)),
             activations=np.array(["tanh"]))
    path = write(tmp_path, "s.toml", 'trials = 2\n[network]\nfile = "net.npz"\n'
                 "[failures]\ncapacity = 1e308\nbyzantine = 1\n")
    code = main(["run", str(path), "--out", str(tmp_path / "o"), "--engine", "fast"])
    assert code in (0, 1)
    assert "Traceback" not in capsys.readouterr().err
    strict_loads((tmp_path / "o" / "summary.json").read_text())
