"""Bad input on the command line: exit status 2, one line on stderr naming file and key.

Plus the happy path of `neurosim bound`: the tightness scenario's Fep, by hand.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neurosim.front.cli import main

ROOT = Path(__file__).resolve().parents[1]
TIGHT = ROOT / "scenarios" / "tightness.toml"
NPZ = ROOT / "scenarios" / "nets" / "tightness.npz"  # 6-8-7-5-1, identity


def scenario(tmp_path, body, name="bad"):
    path = tmp_path / f"{name}.toml"
    path.write_text(body)
    return path


def net_section(path=NPZ):
    return f'[network]\nfile = "{path}"\n'


def assert_one_line_error(capsys, argv, *needles):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("neurosim: error: ")
    assert "Traceback" not in err
    for needle in needles:
        assert str(needle) in err, (needle, err)
    return err


# ---------------------------------------------------------------- scenario files


def test_subprocess_no_traceback(tmp_path):
    """The real entry point: a bad key gives status 2 and one line, nothing else."""
    path = scenario(tmp_path, net_section() + "[failures]\ncrash = [1, 1]\ncrsh = 2\n")
    r = subprocess.run([sys.executable, "-m", "neurosim", "bound", str(path)],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 2
    assert r.stdout == ""
    assert "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert str(path) in lines[0] and "failures.crsh" in lines[0] and "unknown key" in lines[0]


def test_malformed_toml(tmp_path, capsys):
    path = scenario(tmp_path, "[network\nfile = 'x.npz'\n")
    err = assert_one_line_error(capsys, ["bound", path], path)
    assert "TOML" in err and "line 1" in err


def test_unknown_key_top_level(tmp_path, capsys):
    path = scenario(tmp_path, "seeed = 3\n" + net_section())
    assert_one_line_error(capsys, ["bound", path], path, "seeed", "unknown key")


def test_unknown_key_in_section(tmp_path, capsys):
    path = scenario(tmp_path, net_section() + "[latency]\nmodel = 'constant'\nmeen = 2.0\n")
    assert_one_line_error(capsys, ["bound", path], path, "latency.meen", "unknown key")


@pytest.mark.parametrize("body, key", [
    ('trials = "many"\n' + net_section(), ": trials:"),
    (net_section() + '[failures]\ncrash = "two"\n', ": failures.crash:"),
    (net_section() + "[failures]\ncrash = [1, 2.5, 0]\n", ": failures.crash"),
    (net_section() + '[failures]\nprecision = "fine"\n', ": failures.precision:"),
    (net_section() + "[firing]\nhorizon = [1]\n", ": firing.horizon:"),
    ("network = 3\n", ": network:"),
    # Keys that begin like a type name ("str"): they were dropped, leaving "failures:".
    (net_section() + "[failures]\nstraggler_factor = 0.5\n", ": failures.straggler_factor:"),
    (net_section() + "[failures]\nstragglers = -1\n", ": failures.stragglers:"),
])
def test_wrong_type(tmp_path, capsys, body, key):
    path = scenario(tmp_path, body)
    err = assert_one_line_error(capsys, ["bound", path], path, key)
    assert "constrained" not in err  # pydantic's internal type names are not keys


def test_crash_count_larger_than_layer(tmp_path, capsys):
    path = scenario(tmp_path, net_section() + "[failures]\ncrash = [9, 0, 0]\n")
    assert_one_line_error(capsys, ["bound", path], path, "failures.crash", "layer 1", "8")


def test_crash_and_byzantine_exceed_layer(tmp_path, capsys):
    path = scenario(tmp_path, net_section() + "[failures]\ncrash = [0, 0, 3]\nbyzantine = 3\n")
    assert_one_line_error(capsys, ["bound", path], path, "failures", "layer 3")


def test_negative_latency_mean(tmp_path, capsys):
    path = scenario(tmp_path, net_section() + "[latency]\nmean = -1.0\n")
    assert_one_line_error(capsys, ["bound", path], path, "latency.mean")


def test_quorum_above_senders(tmp_path, capsys):
    # Layer 1 has N_0 = 6 senders.
    path = scenario(tmp_path, net_section() + "[firing]\nrule = 'quorum'\nquorum = [7, 8, 7, 5]\n")
    assert_one_line_error(capsys, ["bound", path], path, "firing.quorum", "layer 1", "6")


def test_missing_network_file(tmp_path, capsys):
    path = scenario(tmp_path, '[network]\nfile = "nets/nowhere.npz"\n')
    assert_one_line_error(capsys, ["bound", path], path, "network.file", "nowhere.npz",
                          "not found")


def test_missing_scenario_file(tmp_path, capsys):
    assert_one_line_error(capsys, ["bound", tmp_path / "nope.toml"], "nope.toml", "not found")


def test_list_placement_out_of_range(tmp_path, capsys):
    for pair in ("[1, 8]", "[4, 0]", "[0, 0]", "[2, -1]"):
        path = scenario(tmp_path, net_section()
                        + f"[failures]\nplacement = 'list'\ncrashed = [[1, 0], {pair}]\n")
        assert_one_line_error(capsys, ["bound", path], path, "failures.crashed", pair)


# ---------------------------------------------------------------- network files


def good_arrays():
    rng = np.random.default_rng(0)
    return {"W1": rng.normal(size=(4, 3)), "b1": np.zeros(4), "W2": rng.normal(size=(2, 4)),
            "b2": np.zeros(2), "activations": np.array(["tanh"])}


@pytest.mark.parametrize("change, key", [
    ({"W2": np.ones((2, 5))}, "W2"),                       # does not chain with W1 (4, 3)
    ({"W1": np.full((4, 3), np.nan)}, "W1"),
    ({"b2": np.array([0.0, np.inf])}, "b2"),
    ({"W1": None}, "W1"),                                   # missing
    ({"activations": np.array(["swish"])}, "activations"),
    ({"activations": np.array(["tanh", "relu"])}, "activations"),  # one too many
    ({"b1": np.zeros(3)}, "b1"),
])
def test_bad_network_file(tmp_path, capsys, change, key):
    arrays = {**good_arrays(), **change}
    path = tmp_path / "bad.npz"
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    # Directly, and through a scenario that points to it.
    assert_one_line_error(capsys, ["bound", path], path, f": {key}:")
    scn = scenario(tmp_path, net_section(path))
    assert_one_line_error(capsys, ["bound", scn], path, f": {key}:")


def test_not_an_npz(tmp_path, capsys):
    path = tmp_path / "junk.npz"
    path.write_text("not a zip")
    assert_one_line_error(capsys, ["bound", path], path)


def test_npz_crash_option_too_large(capsys):
    assert_one_line_error(capsys, ["bound", NPZ, "--crash", "9"], NPZ, "--crash")


def test_convert_bad_model(tmp_path, capsys):
    assert_one_line_error(capsys, ["convert", tmp_path / "none.joblib", tmp_path / "o.npz"],
                          "none.joblib", "not found")
    import joblib

    junk = tmp_path / "junk.joblib"
    joblib.dump({"not": "a model"}, junk)
    err = assert_one_line_error(capsys, ["convert", junk, tmp_path / "o.npz"], junk,
                                "not a fitted scikit-learn MLP", "dict")
    assert err.count("fitted") == 1, err  # said once, not "not a fitted ... (not a fitted ...)"
    text = tmp_path / "text.joblib"
    text.write_text("not a pickle\n")
    assert_one_line_error(capsys, ["convert", text, tmp_path / "o.npz"], text,
                          "not a joblib file")
    assert not (tmp_path / "o.npz").exists()


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_out_that_cannot_be_a_folder(tmp_path, capsys, command):
    """--out naming a file, or a folder under a file: refused before any work, naming
    --out and the path, and nothing is created."""
    path = scenario(tmp_path, net_section() + '[sweep]\n"failures.crash" = [0, 1]\n', "ok")
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    assert_one_line_error(capsys, [command, path, "--out", a_file], "--out", a_file,
                          "not a folder")
    assert_one_line_error(capsys, [command, path, "--out", a_file / "sub" / "dir"], "--out",
                          a_file / "sub" / "dir", "cannot create the folder")
    assert a_file.read_text() == "x"


def test_out_is_probed_without_leaving_folders(tmp_path, capsys):
    """A new --out folder is tried (created, then removed) before the scenario is read:
    a bad scenario leaves no empty folder behind."""
    path = scenario(tmp_path, "[network\n")
    out = tmp_path / "new" / "deep"
    assert_one_line_error(capsys, ["run", path, "--out", out], path, "malformed TOML")
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("flag, value", [("--trials", "0"), ("--seed", "-3")])
def test_run_flags_are_blamed_not_the_file(tmp_path, capsys, flag, value):
    path = scenario(tmp_path, net_section(), "ok")
    err = assert_one_line_error(capsys, ["run", path, flag, value, "--out", tmp_path / "o"],
                                f"{flag}: ", value)
    assert f"{path}: {flag}: " in err


# ---------------------------------------------------------------- happy path


def test_bound_tightness_json(capsys):
    assert main(["bound", str(TIGHT), "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    r = json.loads(out)
    # 6-8-7-5-1, identity (K = 1), w_m = 0.5, crashes f = [2, 3, 1], top corner of [0, 1]^6:
    # B_1 = 6 * 0.5 = 3, B_2 = 8 * 3 * 0.5 = 12, B_3 = 7 * 12 * 0.5 = 42.
    #   l = 1: 2 * 3  * 0.5 * (7 - 3) * 0.5 * (5 - 1) * 0.5 = 12
    #   l = 2: 3 * 12 * 0.5 * (5 - 1) * 0.5                 = 36
    #   l = 3: 1 * 42 * 0.5                                 = 21
    expected = 2 * 3 * 0.5 * (7 - 3) * 0.5 * (5 - 1) * 0.5 + 3 * 12 * 0.5 * (5 - 1) * 0.5 \
        + 1 * 42 * 0.5
    assert expected == 69
    assert r["bound_paper"] == pytest.approx(69, rel=1e-12)
    assert r["bound_weight_aware"] == pytest.approx(69, rel=1e-12)
    assert r["bound_weight_aware_global_k"] == pytest.approx(69, rel=1e-12)
    assert r["sizes"] == [6, 8, 7, 5, 1]


def test_bound_table_and_epsilon(capsys):
    assert main(["bound", str(TIGHT), "--epsilon", "68.5"]) == 0
    out, _ = capsys.readouterr()
    assert "paper Fep" in out and "69" in out
    assert "tolerated by paper Fep: False" in out
    # Fep = 69 in real arithmetic; the float64-sound bound is a few roundoffs above it.
    assert main(["bound", str(TIGHT), "--json", "--epsilon", "69.000001"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert 69 < r["bound_paper"] < 69 * (1 + 1e-12)
    assert r["tolerated_paper"] is True and r["tolerated_weight_aware"] is True


def test_directory_or_network_given_as_scenario(tmp_path, capsys):
    net = Path(__file__).parent.parent / "scenarios" / "nets" / "digits.npz"
    for path, words in ((tmp_path, "is a directory"), (net, "a network file")):
        assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0] and str(path) in err[0]


def test_run_says_when_auto_quorum_is_not_certified(tmp_path, capsys):
    (tmp_path / "s.toml").write_text(
        'seed = 0\ntrials = 3\n[network]\nsizes = [3, 4, 2]\n[failures]\ncrash = 1\n'
        '[firing]\nrule = "quorum"\nquorum = "auto"\nepsilon = 1e-9\n')
    main(["run", str(tmp_path / "s.toml"), "--out", str(tmp_path / "out"), "--engine", "fast"])
    err = capsys.readouterr().err
    assert "cannot be certified" in err and "wait-all" in err


def test_interrupt_before_the_first_trial_claims_nothing(tmp_path, capsys, monkeypatch):
    import neurosim.runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(neurosim.runner, "run_trials", interrupted)
    (tmp_path / "s.toml").write_text('trials = 3\n[network]\nsizes = [2, 3, 1]\n')
    assert main(["run", str(tmp_path / "s.toml"), "--out", str(tmp_path / "out")]) == 130
    err = capsys.readouterr().err
    assert "no trial had finished" in err and "kept" not in err


def test_uniform_latency_defaults_to_mean_one(tmp_path):
    from neurosim.data.scenario import parse_scenario
    from neurosim.engines.plan import latency_model

    model = latency_model(parse_scenario({"network": {"sizes": [2, 1]},
                                          "latency": {"model": "uniform"}}))
    assert (model.low, model.high) == (0.0, 2.0)
