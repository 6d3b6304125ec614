"""A key that the scenario's firing rule or latency model does not read is refused (one
line naming the file and the key, exit 2), as `inputs.file` is without kind = "file":
`rule = "quorum"` with `timeout = 5` is most likely a scenario meant as quorum-or-timeout.
A [sweep] over `firing.rule` / `latency.model` may set, once, keys its other rules or
models read: each point then drops those its own rule or model does not read."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import one_line_error

from neurosim.data.scenario import load_scenario
from neurosim.sweep import point_scenario

NET = "trials = 3\n[network]\nsizes = [3, 4, 2]\n"




@pytest.mark.parametrize("body, key", [
    ('[firing]\nrule = "wait-all"\ntimeout = 5.0', "firing.timeout"),
    ('[firing]\nrule = "quorum"\nquorum = 3\ntimeout = 5.0', "firing.timeout"),
    ('[firing]\ntimeout = 5.0', "firing.timeout"),  # the default rule, wait-all
    ('[firing]\nrule = "quorum"\nquorum = 3\ntimeout_from = "start"', "firing.timeout_from"),
    ('[firing]\nrule = "wait-all"\nquorum = 3', "firing.quorum"),
    ('[firing]\nrule = "timeout"\ntimeout = 1.0\nquorum = 3', "firing.quorum"),
    ('[latency]\nmodel = "uniform"\nmean = 2.0\nlow = 0.5', "latency.low"),
    ('[latency]\nmodel = "uniform"\nmean = 2.0\nlow = 0.5\nhigh = 1.0', "latency.low"),
    ('[latency]\nmodel = "exponential"\nlow = 0.5\nhigh = 1.0', "latency.low"),
    ('[latency]\nmodel = "uniform"\nlow = 0.5', "latency.high"),
    ('[latency]\nmodel = "uniform"\nhigh = 0.5', "latency.low"),
    ('[latency]\nmodel = "uniform"\nlow = 2\nhigh = 1.5', "latency.high"),
    ('[latency]\nmodel = "exponential"\nsigma = 2.0', "latency.sigma"),
    ('[latency]\nmodel = "lognormal"\nalpha = 2.0', "latency.alpha"),
    ('[latency]\nmodel = "pareto"\nfile = "d.npy"', "latency.file"),
    ('[latency]\nmodel = "empirical"\nfile = "d.npy"\nmean = 3.0', "latency.mean"),
])
@pytest.mark.parametrize("command", ["run", "bound"])
def test_a_key_the_rule_or_model_does_not_read_is_refused(tmp_path, capsys, body, key,
                                                          command):
    import numpy as np

    np.save(tmp_path / "d.npy", np.array([1.0, 2.0]))
    path = tmp_path / "s.toml"
    path.write_text(NET + body + "\n")
    argv = [command, path] + (["--out", tmp_path / "out"] if command == "run" else [])
    one_line_error(capsys, argv, path, key)
    assert not (tmp_path / "out").exists()


SWEPT = NET + """[latency]
model = "pareto"
alpha = 1.5
sigma = 0.5
[firing]
rule = "quorum"
quorum = 3
timeout = 2.0
timeout_from = "start"
[sweep]
"firing.rule" = ["wait-all", "timeout", "quorum"]
"latency.model" = ["lognormal", "pareto"]
"""


def test_a_sweep_over_the_rule_sets_each_rules_keys_once(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SWEPT)
    base = load_scenario(path)  # accepted: the swept rules and models read those keys
    # The base's own rule (quorum) and model (pareto) read neither timeout nor sigma.
    assert base.firing.timeout is None and base.firing.quorum == 3
    assert "sigma" not in base.latency.model_fields_set and base.latency.alpha == 1.5
    wait_all = point_scenario(path, {"firing.rule": "wait-all", "latency.model": "lognormal"})
    assert wait_all.firing.timeout is None and wait_all.firing.quorum is None
    assert wait_all.latency.sigma == 0.5 and "alpha" not in wait_all.latency.model_fields_set
    timeout = point_scenario(path, {"firing.rule": "timeout", "latency.model": "pareto"})
    assert timeout.firing.timeout == 2.0 and timeout.firing.timeout_from == "start"
    assert timeout.firing.quorum is None and timeout.latency.alpha == 1.5
    quorum = point_scenario(path, {"firing.rule": "quorum", "latency.model": "pareto"})
    assert quorum.firing.quorum == 3 and quorum.firing.timeout is None


def test_a_swept_key_no_rule_of_the_sweep_reads_is_refused(tmp_path, capsys):
    """A sweep over timeouts with wait-all measures nothing: refused before any point runs,
    naming the key and the point."""
    path = tmp_path / "s.toml"
    path.write_text(NET + '[sweep]\n"firing.timeout" = [1.0, 2.0]\n')
    one_line_error(capsys, ["sweep", path, "--out", tmp_path / "out"], "firing.timeout")


def test_the_shipped_sweeps_still_load():
    folder = Path(__file__).parent.parent / "scenarios"
    for path in sorted(folder.glob("*.toml")):
        scn = load_scenario(path)
        for key, values in scn.sweep.items():
            for value in values:
                point_scenario(path, {key: value})


def test_a_sweep_over_models_gives_uniform_its_low_and_high(tmp_path):
    """The mean is the other models': a uniform point takes low and high (a file that
    itself says uniform with a mean and low and high is refused, above)."""
    path = tmp_path / "s.toml"
    path.write_text(NET + '[latency]\nmodel = "exponential"\nmean = 2.0\nlow = 0.5\n'
                    'high = 1.0\n[sweep]\n"latency.model" = ["exponential", "uniform"]\n')
    uniform = point_scenario(path, {"latency.model": "uniform"})
    assert (uniform.latency.low, uniform.latency.high, uniform.latency.mean) == (0.5, 1.0, None)
    exponential = point_scenario(path, {"latency.model": "exponential"})
    assert exponential.latency.mean == 2.0 and exponential.latency.low is None


def test_a_misspelt_rule_is_named_before_the_keys_it_would_read(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(NET + '[firing]\nrule = "quorum_or_timeout"\nquorum = 3\ntimeout = 1.0\n')
    one_line_error(capsys, ["bound", path], path, "firing.rule", "quorum-or-timeout")
