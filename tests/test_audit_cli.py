"""Command-line input an outside audit found reaching a traceback or a runaway."""

from __future__ import annotations

import pytest

from neurosim.front import cli
from neurosim.front.cli import main


def one_line_error(capsys, argv, *needles) -> str:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2, (code, out, err)
    assert "Traceback" not in err
    assert err.startswith("neurosim: error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert str(needle) in err, (needle, err)
    return err


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
