"""The plots: what they are drawn from is right, they survive odd runs, and a rerun leaves
no stale file (the pictures themselves were looked at by hand)."""

from __future__ import annotations

import numpy as np
import pytest
from strategies import PNG, tiny

import neurosim.front.plots as plots
from neurosim.data.scenario import parse_scenario
from neurosim.front.cli import main
from neurosim.front.study import MAX_SERIES, _facets
from neurosim.front.trace_plots import (
    arrivals,
    read_trace,
    rule_held,
    sample_neurons,
    signal_fates,
)
from neurosim.runner import run_trials
from neurosim.setup import prepare


@pytest.mark.parametrize("sections", [
    # every trial blocked: no error, no latency at all
    {"failures": "crash = 1", "firing": 'rule = "wait-all"\nhorizon = 50.0'},
    # no failure: every error and every bound is 0 (nothing positive for a log axis)
    {"latency": 'model = "constant"\nmean = 1.0'},
    # a timeout: rules that hold by the clock, late arrivals
    {"failures": "crash = 1", "firing": 'rule = "timeout"\ntimeout = 0.5'},
])
def test_every_run_plot_is_drawn_for_odd_runs(tmp_path, sections):
    out = tmp_path / "out"
    assert main(["run", str(tiny(tmp_path, "odd", **sections)), "--engine", "fast",
                 "--out", str(out)]) == 0
    for name in plots.RUN_PLOTS:
        assert (out / name).read_bytes()[:8] == PNG, name


def test_the_trace_tells_a_timeout_from_a_quorum(tmp_path):
    """rule_held against the engine: a neuron whose rule held by the clock fired exactly
    `timeout` after its first arrival; any other fired when a signal it used arrived."""
    scn = parse_scenario({
        "name": "mixed", "seed": 9, "trials": 1,
        "network": {"sizes": [6, 8, 6, 3], "activation": "sigmoid"},
        "failures": {"crash": 1, "synapse_crash": [1, 0, 0]},
        "latency": {"model": "pareto", "mean": 1.0, "alpha": 1.5},
        "firing": {"rule": "quorum-or-timeout", "quorum": [5, 7, 5], "timeout": 1.0},
    })
    run_trials(prepare(scn), "des", tmp_path)
    trace = read_trace(tmp_path / "trace_trial0.npz")
    seen = set()
    for l in range(1, len(trace["fire_time"])):
        arr = arrivals(trace, l)
        assert np.all(np.isinf(arr[trace["lost"][l - 1]]))
        held, by_timeout = rule_held(trace, l)
        for j in np.flatnonzero(np.isfinite(held)):
            if by_timeout[j]:
                assert held[j] == pytest.approx(arr[j].min() + 1.0, abs=1e-12)
            else:
                assert held[j] in arr[j][trace["used"][l - 1][j]]
            seen.add(bool(by_timeout[j]))
    assert seen == {True, False}  # the scenario exercises both ways a rule holds


def test_each_unused_signal_is_drawn_for_its_cause(tmp_path):
    """signal_fates against the trial's own data: every signal into a neuron that fired is
    used, from a crashed/blocked sender, lost, or arrived no earlier than the rule held."""
    scn = parse_scenario({
        "name": "fates", "seed": 2, "trials": 1,
        "network": {"sizes": [6, 8, 6, 3], "activation": "sigmoid"},
        "failures": {"crash": 1, "byzantine": [1, 0], "synapse_crash": [1, 1, 0]},
        "latency": {"model": "pareto", "mean": 1.0, "alpha": 1.5},
        "firing": {"rule": "quorum", "quorum": [4, 5, 4]},
    })
    run_trials(prepare(scn), "fast", tmp_path)
    trace = read_trace(tmp_path / "trace_trial0.npz")
    kinds = set()
    for l in range(1, len(trace["fire_time"])):
        fate = signal_fates(trace, l)
        arr = arrivals(trace, l)
        held, _ = rule_held(trace, l)
        fired = np.isfinite(trace["fire_time"][l])
        assert np.all(fate[~fired] == "")
        for j in np.flatnonzero(fired):
            for i, kind in enumerate(fate[j]):
                kinds.add(kind)
                used = trace["used"][l - 1][j, i]
                assert used == (kind in ("used", "corrupted"))
                if kind == "corrupted":
                    assert trace["byzantine"][l - 1][i]
                elif kind == "no_signal":
                    assert not np.isfinite(trace["fire_time"][l - 1][i])
                elif kind == "lost":
                    assert trace["lost"][l - 1][j, i]
                elif kind == "slow":
                    assert arr[j, i] >= held[j]  # (inf: still travelling at the horizon)
    assert kinds >= {"used", "corrupted", "no_signal", "lost", "slow"}


def test_a_sample_of_a_wide_layer_keeps_every_failed_neuron():
    n = 50
    crashed = np.zeros(n, dtype=bool)
    crashed[[3, 17, 48]] = True
    fire = np.where(crashed, np.inf, 1.0)
    fire[20] = np.inf  # blocked
    trace = {"fire_time": [fire], "crashed": [crashed], "byzantine": [np.zeros(n, bool)]}
    shown = sample_neurons(trace, 0, 10)
    assert len(shown) == 10 and len(set(shown)) == 10
    assert {3, 17, 20, 48} <= set(shown.tolist())
    assert len(sample_neurons(trace, 0, 60)) == n


def test_equal_bounds_share_one_line_and_zeros_sit_on_a_floor():
    lines = plots._bound_lines({"bound_signed": 1.5, "bound_weight_aware": 2.5,
                                "bound_weight_aware_global_k": 2.5, "bound_paper": 7.0})
    assert len(lines) == 3
    assert "local slopes" in lines[1][0] and "global K" in lines[1][0]
    assert len({style for *_, style in lines}) == 3  # distinct bounds, distinct line styles
    assert plots.log_floor(np.array([0.0, np.nan, 3e-3, 2.0])) == pytest.approx(3e-4)
    assert plots.log_floor(np.array([np.nan, 0.0])) > 0


def test_the_rule_alone_tells_series_apart_when_the_panels_allow():
    values = {"failures.crash": [0, 1, 0, 1], "firing.rule": ["quorum", "quorum", "wait-all",
                                                              "wait-all"]}
    assert _facets(list(values), values) == (["firing.rule"], ["failures.crash"])


def test_sweep_plots_survive_points_blocked_on_every_trial(tmp_path):
    """A horizon shorter than any delay: every trial of every point blocks (all errors and
    latencies empty); every sweep plot is still drawn."""
    scn = tmp_path / "blocked.toml"
    scn.write_text('''name = "blocked"
seed = 1
trials = 3
[network]
sizes = [4, 5, 3]
[latency]
model = "constant"
mean = 1.0
[firing]
rule = "quorum"
quorum = "auto"
epsilon = 1.0
horizon = 0.5
[sweep]
"firing.epsilon" = [0.5, 50.0]
"firing.rule" = ["quorum", "wait-all"]
"failures.crash" = [0, 1]
''')
    out = tmp_path / "out"
    assert main(["sweep", str(scn), "--engine", "fast", "--quiet", "--out", str(out)]) == 0
    drawn = sorted(p.name for p in out.glob("*.png"))
    assert drawn == ["latency_cdf_quorum.png", "latency_vs_error.png", "liveness.png",
                     "pareto.png", "sweep.png"]
    for name in drawn:
        assert (out / name).read_bytes()[:8] == PNG


def test_sweep_panels_hold_at_most_six_series_and_keep_the_rule():
    values = {"latency.model": ["a", "b", "c"] * 8, "firing.certify": ["w", "p"] * 12,
              "failures.crash": [0, 1, 2, 3] * 6, "firing.rule": ["quorum", "wait-all"] * 12}
    series, facets = _facets(list(values), values)
    assert "firing.rule" in series
    per_panel = np.prod([len(set(values[k])) for k in series])
    assert per_panel <= MAX_SERIES and set(series) | set(facets) == set(values)
