"""`neurosim run` end to end (INTERFACE 3-4): determinism, live invariant checks,
interrupted runs, and the result files' contents."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

import neurosim.runner
from neurosim.front.cli import main

SUMMARY_KEYS = {
    "scenario", "seed", "trials", "engine", "version", "bound_paper", "bound_weight_aware",
    "bound_signed", "bound_tightest",
    "max_error", "mean_error", "violations", "latency_mean", "latency_p50", "latency_p99",
    "layer_latency_mean", "blocked_trials", "messages_sent", "messages_used", "elapsed_s",
}
LABEL_KEYS = {"accuracy", "fault_free_accuracy"}
CSV_COLUMNS = ["trial", "input_index", "error", "bound_given_set", "latency", "blocked",
               "messages_sent", "messages_used", "prediction", "fault_free_prediction", "label"]


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    return repr(v)


def write_scenario(path: Path, data: dict) -> Path:
    """A scenario dict as a TOML file (top-level scalars, then one table per section)."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for section, table in data.items():
        if isinstance(table, dict):
            lines.append(f"\n[{section}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def base_scenario(**sections) -> dict:
    data = {
        "name": "engine-check", "seed": 13, "trials": 24,
        "network": {"sizes": [6, 8, 6, 3], "activation": "sigmoid"},
        "failures": {"crash": 1, "synapse_crash": [0, 1, 1]},
        "latency": {"model": "lognormal", "mean": 1.0, "sigma": 1.0},
        "firing": {"rule": "quorum", "quorum": [5, 6, 4]},
    }
    for k, v in sections.items():
        data[k] = v
    return data


def run(tmp_path: Path, scenario: Path, out: str, *extra: str) -> tuple[int, Path]:
    out_dir = tmp_path / out
    status = main(["run", str(scenario), "--out", str(out_dir), *extra])
    return status, out_dir


def read_rows(out_dir: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(out_dir / "trials.csv", newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def summary(out_dir: Path) -> dict:
    return json.loads((out_dir / "summary.json").read_text())


# 6. Determinism


def test_same_scenario_twice_gives_byte_identical_trials(tmp_path):
    scn = write_scenario(tmp_path / "s.toml", base_scenario())
    s1, a = run(tmp_path, scn, "a")
    s2, b = run(tmp_path, scn, "b")
    assert s1 == s2 == 0
    assert (a / "trials.csv").read_bytes() == (b / "trials.csv").read_bytes()
    _, rows = read_rows(a)
    assert len(rows) == 24
    # Not vacuous: the trials differ from one another.
    assert len({r["latency"] for r in rows}) > 20 and len({r["error"] for r in rows}) > 20


def test_fast_engine_writes_the_same_trials_as_des(tmp_path):
    scn = write_scenario(tmp_path / "s.toml", base_scenario(
        failures={"crash": 1, "byzantine": [1, 0], "synapse_byzantine": [0, 1, 0],
                  "stragglers": 1},
        firing={"rule": "quorum-or-timeout", "quorum": [5, 6, 5], "timeout": 2.0}))
    s1, des = run(tmp_path, scn, "des", "--engine", "des")
    s2, fast = run(tmp_path, scn, "fast", "--engine", "fast")
    assert s1 == s2 == 0
    assert (des / "trials.csv").read_bytes() == (fast / "trials.csv").read_bytes()
    a, b = summary(des), summary(fast)
    assert (a["engine"], b["engine"]) == ("des", "fast")
    for k in ("max_error", "latency_mean", "messages_sent", "messages_used", "blocked_trials"):
        assert a[k] == b[k], k


def test_another_seed_gives_another_file(tmp_path):
    scn = write_scenario(tmp_path / "s.toml", base_scenario())
    _, a = run(tmp_path, scn, "a")
    _, b = run(tmp_path, scn, "b", "--seed", "14")
    assert (a / "trials.csv").read_bytes() != (b / "trials.csv").read_bytes()
    assert summary(b)["seed"] == 14
    _, rows_a = read_rows(a)
    _, rows_b = read_rows(b)
    assert [r["latency"] for r in rows_a] != [r["latency"] for r in rows_b]


# 7. Invariant checks are live


def test_a_violated_bound_exits_1_naming_seed_and_trial(tmp_path, monkeypatch, capsys):
    # Every trial of a block gets a given-set bound of 0.
    monkeypatch.setattr(neurosim.runner, "given_set_bounds",
                        lambda net, kinds, *a, **k: np.zeros(len(kinds[0])))
    scn = write_scenario(tmp_path / "s.toml", base_scenario())
    status, out = run(tmp_path, scn, "out")
    err = capsys.readouterr().err
    assert status == 1
    found = re.findall(r"seed (\d+), trial (\d+)", err)
    assert found, err
    _, rows = read_rows(out)
    for seed, trial in found:
        assert int(seed) == 13
        assert float(rows[int(trial)]["error"]) > 0.0
    assert summary(out)["violations"] >= len(found) > 0


FAILURE_KINDS = {
    "crash": ({"crash": [2, 1]}, {"rule": "quorum", "quorum": [6, 6, 5]}),
    "byzantine": ({"byzantine": 1, "byzantine_mode": "random"}, {"rule": "wait-all"}),
    "byzantine_adversarial": ({"byzantine": [2, 1]}, {"rule": "wait-all"}),
    "synapse_crash": ({"synapse_crash": [1, 2, 1]}, {"rule": "quorum", "quorum": [5, 6, 5]}),
    "synapse_byzantine": ({"synapse_byzantine": [1, 1, 2]}, {"rule": "wait-all"}),
    "stragglers": ({"stragglers": [2, 1], "synapse_stragglers": 1},
                   {"rule": "timeout", "timeout": 1.5}),
    "crash_time": ({"crash": 1, "crash_time": 1.5}, {"rule": "quorum", "quorum": [6, 7, 5]}),
    "timeout_from_start": ({"crash": 1}, {"rule": "timeout", "timeout": 4.0,
                                          "timeout_from": "start"}),
    "precision": ({"precision": 0.05}, {"rule": "wait-all"}),
    "mixed": ({"crash": 1, "byzantine": 1, "synapse_crash": 1, "synapse_byzantine": 1,
               "stragglers": 1, "precision": 0.01},
              {"rule": "quorum-or-timeout", "quorum": [4, 6, 4], "timeout": 2.0}),
    "worst_placement": ({"crash": [2, 1], "placement": "worst"},
                        {"rule": "quorum", "quorum": [6, 6, 5]}),
}


@pytest.mark.parametrize("kind", sorted(FAILURE_KINDS))
def test_every_failure_kind_runs_without_violations(tmp_path, kind):
    failures, firing = FAILURE_KINDS[kind]
    data = base_scenario(failures=failures, firing=firing, trials=40)
    data["network"] = {"sizes": [6, 8, 6, 3],
                       "activation": ["tanh", "sigmoid"] if kind != "precision" else "relu"}
    scn = write_scenario(tmp_path / "s.toml", data)
    status, out = run(tmp_path, scn, "out", "--engine", "fast" if kind == "mixed" else "des")
    s = summary(out)
    assert status == 0, s.get("violation_details")
    assert s["violations"] == 0 and s["trials"] == 40
    assert s["blocked_trials"] < 40
    # The failures did something: the outputs moved away from the fault-free ones.
    assert s["max_error"] > 0.0
    if "timeout" not in firing["rule"]:
        # Only a timeout can make receivers miss more signals than the counts the paper's
        # bound assumes (quorums count their skipped signals as missing).
        assert s["max_error"] <= s["bound_paper"] * (1 + 1e-9)


# 8. An interrupted run keeps its finished trials


def test_interrupted_run_keeps_finished_trials(tmp_path, monkeypatch, capsys):
    real = neurosim.runner.ENGINES["des"]
    calls = []

    def interrupt_at_5(net, plan, rule):
        calls.append(plan.trial)
        if plan.trial == 5:
            raise KeyboardInterrupt
        return real(net, plan, rule)

    monkeypatch.setitem(neurosim.runner.ENGINES, "des", interrupt_at_5)
    scn = write_scenario(tmp_path / "s.toml", base_scenario(trials=20))
    status, out = run(tmp_path, scn, "out")
    assert status != 0
    assert calls == [0, 1, 2, 3, 4, 5]
    _, rows = read_rows(out)
    assert [int(r["trial"]) for r in rows] == [0, 1, 2, 3, 4]
    s = summary(out)
    assert s["trials"] == 5
    assert s["messages_sent"] == sum(int(r["messages_sent"]) for r in rows)
    assert "interrupted" in capsys.readouterr().err


# 9. What a run writes


def _check_results(out: Path, labels: bool) -> dict:
    s = summary(out)
    expected = SUMMARY_KEYS | (LABEL_KEYS if labels else set())
    assert expected <= set(s), expected - set(s)
    if not labels:
        assert not LABEL_KEYS & set(s)
    fields, rows = read_rows(out)
    assert set(CSV_COLUMNS) <= set(fields), set(CSV_COLUMNS) - set(fields)
    assert s["trials"] == len(rows)
    for png in ("latency_cdf.png", "error_vs_bounds.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000, png
    # The summary agrees with the rows it summarises.
    done = [r for r in rows if r["blocked"] == "0"]
    assert s["blocked_trials"] == len(rows) - len(done)
    assert s["messages_sent"] == sum(int(r["messages_sent"]) for r in rows)
    assert s["messages_used"] == sum(int(r["messages_used"]) for r in rows)
    lat = np.array([float(r["latency"]) for r in done])
    err = np.array([float(r["error"]) for r in done])
    assert math.isclose(s["latency_mean"], lat.mean(), rel_tol=1e-12)
    assert s["latency_p50"] == pytest.approx(np.median(lat), rel=1e-12)
    assert s["latency_p50"] <= s["latency_p99"] <= lat.max()
    assert s["max_error"] == err.max()
    assert math.isclose(s["mean_error"], err.mean(), rel_tol=1e-12, abs_tol=1e-300)
    assert len(s["layer_latency_mean"]) == len(
        [f for f in fields if f.startswith("layer_latency_")])
    if s["blocked_trials"] == 0:  # the output layer's last firing is the output latency
        assert s["layer_latency_mean"][-1] == pytest.approx(s["latency_mean"], rel=1e-12)
    assert s["bound_weight_aware"] <= s["bound_paper"] * (1 + 1e-9)
    assert s["bound_tightest"] == min(s["bound_signed"], s["bound_weight_aware"],
                                      s["bound_weight_aware_global_k"], s["bound_paper"])
    if s["trials_beyond_counts"] == 0:  # else trials answer to bounds for their own counts
        assert s["max_error"] <= s["bound_tightest"]
    assert isinstance(s["version"], str) and s["elapsed_s"] >= 0
    return s


def test_results_files_have_every_key_and_column(tmp_path):
    scn = write_scenario(tmp_path / "s.toml", base_scenario())
    status, out = run(tmp_path, scn, "out")
    assert status == 0
    s = _check_results(out, labels=False)
    assert (s["scenario"], s["seed"], s["trials"], s["engine"]) == ("engine-check", 13, 24, "des")
    _, rows = read_rows(out)
    assert all(r["label"] == "" for r in rows)
    assert all(r["prediction"] != "" for r in rows if r["blocked"] == "0")


def test_console_summary_shows_every_bound(tmp_path, capsys):
    """The printed summary gives the signed bounds beside the weight-aware and the paper's."""
    scn = write_scenario(tmp_path / "s.toml", base_scenario())
    status, out = run(tmp_path, scn, "out")
    assert status == 0
    s, printed = summary(out), capsys.readouterr().out
    for label, key in [("given-set max", "bound_given_set_max"),
                       ("(signed", "bound_given_set_signed_max"), ("signed", "bound_signed"),
                       ("weight-aware", "bound_weight_aware"), ("paper Fep", "bound_paper")]:
        assert f"{label} {s[key]:.4g}" in printed, (label, printed)


def test_results_with_labels_have_accuracies(tmp_path):
    data = {
        "name": "digits-small", "seed": 2, "trials": 30,
        "network": {"train": {"hidden": [12], "activation": "tanh", "max_iter": 40}},
        "inputs": {"kind": "dataset"},
        "failures": {"crash": 2},
        "latency": {"model": "exponential"},
        "firing": {"rule": "quorum", "quorum": [64, 10]},
    }
    scn = write_scenario(tmp_path / "s.toml", data)
    status, out = run(tmp_path, scn, "out", "--engine", "fast")
    assert status == 0
    s = _check_results(out, labels=True)
    _, rows = read_rows(out)
    labels = [int(r["label"]) for r in rows]
    ff = [int(r["fault_free_prediction"]) for r in rows]
    pred = [int(r["prediction"]) for r in rows]
    assert s["fault_free_accuracy"] == np.mean(np.array(ff) == np.array(labels))
    assert s["accuracy"] == np.mean(np.array(pred) == np.array(labels))
    assert s["fault_free_accuracy"] > 0.5  # a trained classifier, not chance


def test_blocked_run_still_writes_everything(tmp_path):
    scn = write_scenario(tmp_path / "s.toml", base_scenario(
        firing={"rule": "wait-all", "horizon": 30.0}, trials=6))
    status, out = run(tmp_path, scn, "out")
    assert status == 0
    s = summary(out)
    assert SUMMARY_KEYS <= set(s)
    assert s["blocked_trials"] == s["trials"] == 6
    assert s["latency_mean"] is None and s["max_error"] is None
    assert (out / "latency_cdf.png").is_file() and (out / "error_vs_bounds.png").is_file()
    _, rows = read_rows(out)
    assert all(r["blocked"] == "1" and r["latency"] == "" and r["error"] == "" for r in rows)
