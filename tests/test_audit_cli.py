"""Command-line input an outside audit found reaching a traceback or a runaway."""

from __future__ import annotations

import pytest
from cli_helpers import one_line_error

from neurosim.front import cli
from neurosim.front.cli import main


def test_examples_into_a_folder_that_cannot_be_made(tmp_path, capsys):
    (tmp_path / "a-file").write_text("")
    # NotADirectoryError traceback, exit 1 (as /proc/x gave FileNotFoundError)
    one_line_error(capsys, ["examples", tmp_path / "a-file" / "x"], "cannot write")


SWEEP = 'trials = 2\n[network]\nsizes = [2, 2, 1]\n[sweep]\n"failures.crash" = [0, 1]\n'


def test_a_huge_worker_count_is_refused_before_any_process_starts(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(SWEEP)
    one_line_error(capsys, ["sweep", path, "--workers", 100000], "s.toml", "--workers")
    assert cli.MAX_WORKERS >= 4


def test_an_unreachable_scheduler_is_one_line(tmp_path, capsys, monkeypatch):
    pytest.importorskip("dask.distributed")
    import dask.distributed

    def refuse(*args, **kwargs):  # what Client raises when nothing listens there
        raise OSError("Timed out trying to connect to tcp://nowhere:1 after 30 s")

    monkeypatch.setattr(dask.distributed, "Client", refuse)
    path = tmp_path / "s.toml"
    path.write_text(SWEEP)
    one_line_error(capsys, ["sweep", path, "--scheduler", "nowhere:1", "--out",
                            tmp_path / "o"], "s.toml", "--scheduler", "nowhere:1")


def test_bound_reads_a_network_whatever_the_case_of_its_suffix(tmp_path, capsys):
    import numpy as np

    np.savez(tmp_path / "n.npz", W1=np.ones((3, 2)), W2=np.ones((1, 3)),
             activations=np.array(["relu"]))
    (tmp_path / "n.npz").rename(tmp_path / "N.NPZ")  # was read as TOML: "malformed TOML"
    assert main(["bound", str(tmp_path / "N.NPZ"), "--json"]) == 0
    assert '"bound_paper"' in capsys.readouterr().out
    # and `run` on it says it is a network, not that it is malformed TOML
    one_line_error(capsys, ["run", tmp_path / "N.NPZ"], "N.NPZ", "a network file")


def test_bound_on_a_joblib_model_says_to_convert_it(tmp_path, capsys):
    (tmp_path / "m.joblib").write_bytes(b"")
    # said "a network file, not a scenario: use `neurosim bound` on it" to `bound` itself
    err = one_line_error(capsys, ["bound", tmp_path / "m.joblib"], "m.joblib", "convert")
    assert "use `neurosim bound`" not in err


def test_run_on_a_sweep_scenario_says_it_runs_the_base_point(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(SWEEP)
    assert main(["run", str(path), "--out", str(tmp_path / "o"), "--json"]) == 0
    out, err = capsys.readouterr()
    assert "[sweep] grid of 2 points" in err and "neurosim sweep" in err
    import json

    assert json.loads(out)["trials"] == 2  # stdout stays the JSON alone


def test_a_denormal_epsilon_does_not_crash_the_plots(tmp_path, capsys):
    # quorum = "auto" with epsilon = 5e-324: the run finished, then the error plot
    # divided by its log floor, a tenth of 5e-324, which is 0: ZeroDivisionError, exit 1.
    path = tmp_path / "s.toml"
    path.write_text('trials = 3\n[network]\nsizes = [3, 4, 4, 2]\n[firing]\nrule = "quorum"\n'
                    'quorum = "auto"\nepsilon = 5e-324\n')
    assert main(["run", str(path), "--out", str(tmp_path / "o")]) == 0
    assert "Traceback" not in capsys.readouterr().err
    assert (tmp_path / "o" / "error_vs_bounds.png").is_file()
