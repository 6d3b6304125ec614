"""A run ended by SIGTERM (a job scheduler's stop, `kill`, a container's shutdown) keeps
what it computed, as a Ctrl-C does: the finished trials in trials.csv and a
summary.json that counts exactly them."""

from __future__ import annotations

import csv
import json
import os
import signal

import neurosim.runner
from neurosim.front.cli import main


def test_sigterm_keeps_the_finished_trials_and_their_summary(tmp_path, monkeypatch, capsys):
    real = neurosim.runner.ENGINES["des"]

    def terminate_at_5(net, plan, rule):
        if plan.trial == 5:
            os.kill(os.getpid(), signal.SIGTERM)  # handled at the next bytecode
        return real(net, plan, rule)

    monkeypatch.setitem(neurosim.runner.ENGINES, "des", terminate_at_5)
    previous = signal.getsignal(signal.SIGTERM)
    scn = tmp_path / "s.toml"
    scn.write_text('trials = 20\n[network]\nsizes = [3, 4, 2]\n')
    try:
        status = main(["run", str(scn), "--out", str(tmp_path / "out")])
    finally:
        assert signal.getsignal(signal.SIGTERM) is previous  # main restores the handler
        signal.signal(signal.SIGTERM, previous)
    assert status != 0
    assert "interrupted" in capsys.readouterr().err
    with open(tmp_path / "out" / "trials.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert 1 <= len(rows) < 20
    assert [int(r["trial"]) for r in rows] == list(range(len(rows)))
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["trials"] == len(rows)
    assert s["messages_sent"] == sum(int(r["messages_sent"]) for r in rows)
