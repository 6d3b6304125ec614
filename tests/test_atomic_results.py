"""Result files are replaced in one step: a run that fails (a full disk, a kill) while
writing summary.json, or a sweep while rewriting sweep.csv, leaves the previous file whole
and no partial file beside it. (summary.json was written in place: a failure half-way left
half a JSON file, which `neurosim plot` and scripts then could not read.)"""

from __future__ import annotations

import builtins
import csv
import errno
import io
import json
from pathlib import Path

import pytest

import neurosim.sweep as sweep
from neurosim.data.scenario import parse_scenario
from neurosim.front.cli import main
from neurosim.runner import run_trials
from neurosim.setup import prepare


class HalfWrite:
    """A file opened for writing that takes half of what it is given, then fails as a full
    disk does (ENOSPC)."""

    def __init__(self, handle):
        self.handle = handle

    def write(self, text):
        self.handle.write(text[: len(text) // 2])
        self.handle.flush()
        raise OSError(errno.ENOSPC, "No space left on device (simulated)")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()

    def __getattr__(self, name):
        return getattr(self.handle, name)


def fail_writes_to(monkeypatch, name: str) -> list[str]:
    """Make every file opened for writing whose name holds `name` (a temporary file beside
    it included) write half its text, then fail; returns the paths that were opened."""
    real = io.open
    opened = []

    def faulty_open(file, mode="r", *args, **kwargs):
        handle = real(file, mode, *args, **kwargs)
        if name in Path(str(file)).name and any(c in mode for c in "wax+"):
            opened.append(str(file))
            return HalfWrite(handle)
        return handle

    monkeypatch.setattr(io, "open", faulty_open)
    monkeypatch.setattr(builtins, "open", faulty_open)
    return opened


def scenario(seed: int):
    return prepare(parse_scenario({"name": "atomic", "seed": seed, "trials": 4,
                                   "network": {"sizes": [3, 4, 2]},
                                   "failures": {"crash": 1}}))


def test_a_failed_summary_write_leaves_the_previous_summary(tmp_path, monkeypatch):
    out = tmp_path / "out"
    first = run_trials(scenario(1), "fast", out)
    before = (out / "summary.json").read_text()
    assert json.loads(before)["seed"] == first["seed"] == 1
    names = sorted(p.name for p in out.iterdir())

    opened = fail_writes_to(monkeypatch, "summary.json")
    with pytest.raises(OSError, match="simulated"):
        run_trials(scenario(2), "fast", out)
    assert opened  # the failure was met
    monkeypatch.undo()
    assert (out / "summary.json").read_text() == before  # whole, and the previous run's
    assert sorted(p.name for p in out.iterdir()) == names  # no partial file beside it

    run_trials(scenario(2), "fast", out)  # and a later run replaces it
    assert json.loads((out / "summary.json").read_text())["seed"] == 2
    assert sorted(p.name for p in out.iterdir()) == names


SWEPT = """
name = "atomic-sweep"
trials = 3
[network]
sizes = [3, 4, 2]
[failures]
crash = 1
[sweep]
"failures.crash" = [0, 1]
"""


def test_a_failed_sweep_csv_rewrite_leaves_the_previous_file(tmp_path, monkeypatch):
    """A grid that lost a point has sweep.csv rewritten without its row."""
    path, out = tmp_path / "s.toml", tmp_path / "out"
    path.write_text(SWEPT)
    assert main(["sweep", str(path), "--out", str(out), "--engine", "fast", "--quiet"]) == 0
    before = (out / "sweep.csv").read_text()
    names = sorted(p.name for p in out.iterdir())
    path.write_text(SWEPT.replace("[0, 1]", "[1, 2]"))

    opened = fail_writes_to(monkeypatch, "sweep.csv")
    with pytest.raises(OSError, match="simulated"):
        sweep.run_sweep(path, out, engine="fast")
    assert opened
    monkeypatch.undo()
    assert (out / "sweep.csv").read_text() == before
    assert sorted(p.name for p in out.iterdir()) == names

    assert main(["sweep", str(path), "--out", str(out), "--engine", "fast", "--quiet"]) == 0
    with open(out / "sweep.csv", newline="") as f:
        assert sorted(r["failures.crash"] for r in csv.DictReader(f)) == ["1", "2"]
