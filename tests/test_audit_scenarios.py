"""Scenario keys that were accepted although they make no sense (an outside audit).

Each must give exit status 2 and one stderr line naming the file and the key, and
never a traceback or a run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_helpers import one_line_error

from neurosim.front.cli import main

NET = '[network]\nsizes = [2, 3, 1]\n'




def scenario(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(body)
    return path


@pytest.mark.parametrize("key", ["source", "base_dir"])
def test_internal_field_names_are_unknown_keys(tmp_path, capsys, key):
    # They were taken by the model and silently overwritten from the file's path.
    path = scenario(tmp_path, f'trials = 2\n{key} = "elsewhere"\n{NET}')
    one_line_error(capsys, ["run", path, "--out", tmp_path / "o"], "s.toml", key, "unknown key")


@pytest.mark.parametrize("name", [
    "a\\u0000b",  # NUL: ValueError traceback when results/<name> was made
    "a\\nb",  # a newline in a folder name
    "a" * 300,  # longer than a file name may be: OSError traceback
    " padded ",
])
def test_a_name_that_cannot_be_a_folder_is_refused(tmp_path, capsys, monkeypatch, name):
    monkeypatch.chdir(tmp_path)  # no --out: the results go to results/<name>/
    path = scenario(tmp_path, f'name = "{name}"\ntrials = 2\n{NET}')
    one_line_error(capsys, ["run", path], "s.toml", "name")
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


def test_a_plain_unicode_name_still_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = scenario(tmp_path, f'name = "réseau-1"\ntrials = 2\n{NET}')
    assert main(["run", str(path)]) == 0
    assert (tmp_path / "results" / "réseau-1" / "summary.json").is_file()


@pytest.mark.parametrize("sweep, needle", [
    ('"failures.crash" = [1, 1]', "twice"),  # one point run twice, two rows for it
    ('"firing.rule" = ["quorum", "wait-all", "quorum"]', "twice"),
    ('"sweep" = [1, 2]', "cannot be swept"),  # two ids for one and the same run
    ('"base_dir" = ["a", "b"]', "cannot be swept"),
])
def test_sweep_lists_that_do_not_give_distinct_points(tmp_path, capsys, sweep, needle):
    path = scenario(tmp_path, f'trials = 2\n{NET}[firing]\nrule = "quorum"\nquorum = [2, 1]\n'
                              f'[sweep]\n{sweep}\n')
    one_line_error(capsys, ["sweep", path, "--out", tmp_path / "o"], "s.toml", "sweep", needle)
    assert not (tmp_path / "o" / "sweep.csv").exists()


def test_uniform_latency_with_mean_and_low_high(tmp_path, capsys):
    # mean won and low/high were dropped unread: delays in [0, 2] instead of [5, 6].
    path = scenario(tmp_path, f'trials = 2\n{NET}[latency]\nmodel = "uniform"\n'
                              'mean = 1.0\nlow = 5.0\nhigh = 6.0\n')
    one_line_error(capsys, ["run", path, "--out", tmp_path / "o"], "s.toml", "latency",
                   "not both")


@pytest.mark.parametrize("sigma", [1e10, 40.0])
def test_lognormal_whose_delays_underflow_to_zero(tmp_path, capsys, sigma):
    # mean 1, sigma 1e10: mu = -5e19, and every delay drawn was 0.0 (latency 0 in
    # every trial) for a model documented as having mean 1.
    path = scenario(tmp_path, f'trials = 2\n{NET}[latency]\nmodel = "lognormal"\n'
                              f'sigma = {sigma}\n')
    one_line_error(capsys, ["run", path, "--out", tmp_path / "o"], "s.toml", "latency",
                   "underflow")


def test_lognormal_with_a_wide_but_representable_sigma_runs(tmp_path):
    path = scenario(tmp_path, f'trials = 2\n{NET}[latency]\nmodel = "lognormal"\n'
                              'sigma = 30.0\n')
    assert main(["run", str(path), "--out", str(tmp_path / "o")]) == 0


@pytest.mark.parametrize("arrays, needle", [
    ({"lost1": np.full((3, 2), 0.5)}, "booleans"),  # was read as True everywhere
    ({"replaced1": np.ones((3, 2), dtype=np.int64)}, "booleans"),
    ({"value2": np.zeros((1, 3), dtype=complex)}, "real numbers"),  # imaginary part dropped
    ({"weights2": np.ones((1, 3), dtype=bool)}, "real numbers"),
    ({"value2": np.array([[1, "a", None]], dtype=object)}, "cannot be read"),  # traceback
])
def test_pinned_arrays_of_the_wrong_kind(tmp_path, capsys, arrays, needle):
    np.savez(tmp_path / "pin.npz", **arrays)
    path = scenario(tmp_path, f'trials = 2\n{NET}[failures]\nplacement = "list"\n'
                              'pinned = "pin.npz"\n')
    one_line_error(capsys, ["run", path, "--out", tmp_path / "o"], "s.toml",
                   "failures.pinned", needle)


@pytest.mark.parametrize("sizes, text, labels", [
    ("[2, 3, 1]", "0.5 0.25\n", None),  # one input row: loadtxt gave shape (2,)
    ("[1, 3, 1]", "0.5\n0.2\n0.1\n", None),  # one input per line: shape (3,)
    ("[1, 3, 2]", "0.5\n", "1\n"),  # one row and one label: shapes ()
])
def test_text_input_files_of_one_row_or_one_column(tmp_path, sizes, text, labels):
    (tmp_path / "x.txt").write_text(text)
    extra = ""
    if labels is not None:
        (tmp_path / "y.txt").write_text(labels)
        extra = 'labels = "y.txt"\n'
    path = scenario(tmp_path, f'trials = 3\n[network]\nsizes = {sizes}\n'
                              f'[inputs]\nkind = "file"\nfile = "x.txt"\n{extra}')
    assert main(["run", str(path), "--out", str(tmp_path / "o")]) == 0
    rows = (tmp_path / "o" / "trials.csv").read_text().splitlines()[1:]
    n = len([line for line in text.splitlines() if line])
    assert [int(r.split(",")[1]) for r in rows] == [i % n for i in range(3)]
    if labels is not None:
        assert all(r.split(",")[14] == "1" for r in rows)


def test_input_and_label_files_as_csv(tmp_path):
    # Delay files took .csv with commas; input files read it as whitespace-separated
    # and refused "0.5,0.25".
    (tmp_path / "x.csv").write_text("0.5,0.25\n0.75,0.125\n")
    (tmp_path / "y.csv").write_text("1\n0\n")
    path = scenario(tmp_path, 'trials = 2\n[network]\nsizes = [2, 3, 2]\n[inputs]\n'
                              'kind = "file"\nfile = "x.csv"\nlabels = "y.csv"\n')
    assert main(["run", str(path), "--out", str(tmp_path / "o")]) == 0
    rows = (tmp_path / "o" / "trials.csv").read_text().splitlines()[1:]
    assert [r.split(",")[14] for r in rows] == ["1", "0"]


def test_an_upper_case_npy_delay_file_is_read_as_npy(tmp_path):
    np.save(tmp_path / "d.npy", np.array([0.5, 1.5]))
    (tmp_path / "d.npy").rename(tmp_path / "D.NPY")  # was read as text: undecodable
    path = scenario(tmp_path, f'trials = 2\n{NET}[latency]\nmodel = "empirical"\n'
                              'file = "D.NPY"\n')
    assert main(["run", str(path), "--out", str(tmp_path / "o")]) == 0


def test_uniform_inputs_over_a_box_wider_than_a_float64(tmp_path, capsys):
    # [-1e308, 1e308]: its width overflows; numpy's uniform raised OverflowError.
    path = scenario(tmp_path, 'trials = 2\n[network]\nsizes = [2, 3, 1]\n'
                              'input_low = -1e308\ninput_high = 1e308\n')
    one_line_error(capsys, ["run", path, "--out", tmp_path / "o"], "s.toml", "network.input",
                   "width")


def test_a_huge_box_of_corner_inputs_is_still_read(tmp_path):
    path = scenario(tmp_path, 'trials = 2\n[network]\nsizes = [2, 3, 1]\nactivation = "tanh"\n'
                              'input_low = -1e308\ninput_high = 1e308\n'
                              '[inputs]\nkind = "corner"\n')
    assert main(["bound", str(path), "--json"]) == 0


def test_uniform_latency_whose_range_overflows(tmp_path, capsys):
    # mean 1e308: [0, 2 mean] ends at inf; the latency model's ValueError was a traceback.
    path = scenario(tmp_path, f'trials = 2\n{NET}[latency]\nmodel = "uniform"\n'
                              'mean = 1e308\n')
    one_line_error(capsys, ["run", path, "--out", tmp_path / "o"], "s.toml", "latency.mean",
                   "2 mean")
