"""A rerun into an existing results folder: no stale plot or trace is left beside the new
CSV, and the printed file list names every file in the folder."""

from __future__ import annotations

import re

from strategies import PNG, tiny

import neurosim.front.plots as plots
from neurosim.front.cli import main


def results_line(out: str) -> list[str]:
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("results"))
    return re.search(r"\((.*)\)", line).group(1).split(", ")


def test_a_rerun_leaves_no_stale_plot_and_lists_every_file(tmp_path, capsys, monkeypatch):
    scn = tiny(tmp_path, "rerun", failures="crash = 1",
               firing='rule = "quorum"\nquorum = [6, 7, 5]')
    out = tmp_path / "out"
    out.mkdir()
    for name in (*plots.RUN_PLOTS, "trace_trial0.npz"):
        (out / name).write_bytes(b"stale")
    # Plots that fail to come: the stale ones must be gone all the same.
    monkeypatch.setattr(plots, "plot_results", lambda out_dir: [])
    assert main(["run", str(scn), "--engine", "fast", "--out", str(out)]) == 0
    assert not any((out / n).exists() for n in plots.RUN_PLOTS)
    monkeypatch.undo()
    capsys.readouterr()

    assert main(["run", str(scn), "--engine", "fast", "--out", str(out)]) == 0
    listed = results_line(capsys.readouterr().out)
    assert sorted(listed) == sorted(p.name for p in out.iterdir())
    for name in plots.RUN_PLOTS:
        assert (out / name).read_bytes()[:8] == PNG


def test_plot_redraw_removes_what_the_run_no_longer_has(tmp_path, capsys):
    scn = tiny(tmp_path, "redraw")
    out = tmp_path / "out"
    assert main(["run", str(scn), "--engine", "fast", "--out", str(out)]) == 0
    (out / "trace_trial0.npz").unlink()  # e.g. a run interrupted before trial 0 ended
    assert main(["plot", str(out)]) == 0
    assert not (out / "timeline_trial0.png").exists()
    assert not (out / "network_trial0.png").exists()


def test_a_rerun_interrupted_before_its_first_trial_claims_no_old_trial(tmp_path, capsys,
                                                                       monkeypatch):
    """Ctrl-C while a rerun was still setting up (before trials.csv was opened): the message
    said "10 finished trials kept in .../trials.csv and .../summary.json", but those were
    the previous run's (another scenario's) files, left beside none of their plots."""
    import neurosim.runner

    old = tiny(tmp_path, "old")
    out = tmp_path / "out"
    assert main(["run", str(old), "--engine", "fast", "--out", str(out), "--trials", "10"]) == 0
    capsys.readouterr()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(neurosim.runner, "run_trials", interrupted)
    new = tiny(tmp_path, "new")
    assert main(["run", str(new), "--engine", "fast", "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert "no trial had finished" in err and "kept" not in err
    assert not (out / "trials.csv").exists() and not (out / "summary.json").exists()
