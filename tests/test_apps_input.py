"""Bad input for bits, random failures and network.train (exit 2, one line naming the key);
networks trained here with alpha (against scikit-learn itself) and crash = "tolerated"."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from neurosim.bounds.weight_aware import weight_aware_bound
from neurosim.data.counts import failure_counts
from neurosim.data.scenario import parse_scenario
from neurosim.front.cli import main
from neurosim.runner import run_trials
from neurosim.setup import prepare

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "scenarios" / "nets" / "digits.npz"  # 64-32-16-10


def _bad(tmp_path, capsys, failures: str = "", network: str = f'file = "{DIGITS}"'):
    path = tmp_path / "bad.toml"
    path.write_text(f"[network]\n{network}\n[failures]\n{failures}\n")
    code = main(["bound", str(path)])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err, err
    assert str(path) in err
    return err


@pytest.mark.parametrize("value", ["1", "33", "0", "-8", "8.5", "8.0", '"8"', "true",
                                   "[8, 1, 8]", "[]"])
def test_bits_out_of_range_or_not_integer(tmp_path, capsys, value):
    err = _bad(tmp_path, capsys, f"bits = {value}")
    assert "failures.bits" in err and "2 to 32" in err


def test_bits_wrong_length(tmp_path, capsys):
    err = _bad(tmp_path, capsys, "bits = [8, 8]")
    assert "failures.bits" in err and "3 values" in err


@pytest.mark.parametrize("key", ["crash_probability", "synapse_crash_probability"])
@pytest.mark.parametrize("value", ["1.5", "-0.1", "nan", "inf", "true", '"0.1"', "[0.1, 2]"])
def test_probability_outside_unit_interval(tmp_path, capsys, key, value):
    err = _bad(tmp_path, capsys, f"{key} = {value}")
    assert f"failures.{key}" in err and "[0, 1]" in err


@pytest.mark.parametrize("failures,key", [
    ("crash_probability = 0.1\ncrash = [0, 1]", "failures.crash_probability"),
    ("crash_probability = [0.1, 0]\ncrash = [1, 0]", "failures.crash_probability"),
    ("synapse_crash_probability = 0.1\nsynapse_crash = 1", "failures.synapse_crash_probability"),
    ("crash_probability = [0.1]", "failures.crash_probability"),
    ("crash_probability = 0.1\nplacement = 'list'\ncrashed = [[1, 0]]",
     "failures.crash_probability"),
])
def test_probability_with_count_or_wrong_length(tmp_path, capsys, failures, key):
    assert key in _bad(tmp_path, capsys, failures)


def test_probability_and_count_in_different_layers_is_fine(tmp_path, capsys):
    path = tmp_path / "ok.toml"
    path.write_text(f'[network]\nfile = "{DIGITS}"\n[failures]\n'
                    "crash_probability = [0, 0.1]\ncrash = [1, 0]\n")
    assert main(["bound", str(path)]) == 0


def test_unknown_train_key(tmp_path, capsys):
    err = _bad(tmp_path, capsys, network="train = { hidden = [8], alfa = 0.1 }")
    assert "network.train.alfa" in err and "unknown key" in err


def test_tolerated_needs_epsilon(tmp_path, capsys):
    err = _bad(tmp_path, capsys, 'crash = "tolerated"')
    assert "failures.crash" in err and "epsilon" in err


def test_trained_network_is_sklearns_and_records_its_cost():
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    from neurosim.data.build import digits_split

    scn = parse_scenario({"trials": 4, "network": {"train": {
        "hidden": [8], "alpha": 0.5, "max_iter": 15, "seed": 2}},
        "inputs": {"kind": "dataset"}})
    setup = prepare(scn)
    X_train, X_test, y_train, y_test = digits_split(0.3, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier((8,), activation="logistic", alpha=0.5, max_iter=15,
                              random_state=2).fit(X_train, y_train)
    np.testing.assert_allclose(setup.net.weights[0], model.coefs_[0].T)
    assert setup.training["training_epochs"] == model.n_iter_ == 15
    assert setup.training["converged"] is False
    assert setup.training["training_test_accuracy"] == pytest.approx(model.score(X_test, y_test))
    s = run_trials(setup, "fast")
    assert s["training_time_s"] > 0 and s["training_epochs"] == 15


def test_tolerated_crashes_are_the_largest_within_epsilon(tmp_path):
    body = {"trials": 30, "network": {"file": str(DIGITS)}, "inputs": {"kind": "dataset"},
            "failures": {"crash": "tolerated"}, "latency": {"model": "constant"},
            "firing": {"rule": "timeout", "timeout": 0.5, "epsilon": 9.0}}
    setup = prepare(parse_scenario(body))
    net, eps = setup.net, 9.0
    tol = setup.tolerated_crashes
    assert setup.scenario.failures.crash == tol
    for l in range(net.depth):  # one layer at a time, the others intact
        crash = [0] * net.depth
        crash[l] = tol[l]
        assert weight_aware_bound(net, failure_counts(net, crash=crash)) <= eps
        crash[l] += 1
        assert weight_aware_bound(net, failure_counts(net, crash=crash)) > eps
    assert tol[0] > 0
    s = run_trials(setup, "fast", tmp_path)
    assert s["tolerated_crashes"] == tol and s["violations"] == 0
    assert json.loads((tmp_path / "summary.json").read_text())["missing_per_layer"] == \
        [0] + tol
