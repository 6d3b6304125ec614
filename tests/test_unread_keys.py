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


# Keys that only a kind of failure, or an automatic quorum, reads.
UNUSED = [
    ('[failures]\ncrash_time = 1.0', "failures.crash_time"),
    ('[failures]\ncrash = [0]\ncrash_time = 1.0', "failures.crash_time"),
    ('[failures]\ncrash_probability = 0.0\ncrash_time = 1.0', "failures.crash_time"),
    # a synapse crash loses its messages from the start: no crash time is read
    ('[failures]\nsynapse_crash = 1\nbyzantine = 1\ncrash_time = 1.0', "failures.crash_time"),
    ('[failures]\nplacement = "list"\nbyzantine_list = [[1, 0]]\ncrash_time = 1.0',
     "failures.crash_time"),
    ('[failures]\nstraggler_factor = 4.0', "failures.straggler_factor"),
    ('[failures]\nstragglers = 0\nsynapse_stragglers = [0, 0]\nstraggler_factor = 4.0',
     "failures.straggler_factor"),
    ('[failures]\nbyzantine_mode = "random"', "failures.byzantine_mode"),
    ('[failures]\ncrash = 1\nsynapse_crash = 1\nbyzantine_mode = "constant"',
     "failures.byzantine_mode"),
    ('[firing]\ncertify = "paper"', "firing.certify"),
    ('[firing]\nallocation = "equal"', "firing.allocation"),
    ('[firing]\nrule = "quorum"\nquorum = 3\nallocation = "greedy"', "firing.allocation"),
    ('[firing]\nrule = "quorum"\nquorum = [3, 2]\nepsilon = 1.0\ncertify = "signed"',
     "firing.certify"),
]


@pytest.mark.parametrize("body, key", UNUSED)
@pytest.mark.parametrize("command", ["run", "bound"])
def test_a_key_no_failure_or_quorum_of_the_scenario_reads_is_refused(tmp_path, capsys, body,
                                                                     key, command):
    path = tmp_path / "s.toml"
    path.write_text(NET + body + "\n")
    argv = [command, path] + (["--out", tmp_path / "out"] if command == "run" else [])
    one_line_error(capsys, argv, path, key)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("body", [
    '[failures]\ncrash = 1\ncrash_time = 1.0',
    '[failures]\ncrash = [1]\nsynapse_crash = 0\ncrash_time = 0.0',
    '[failures]\ncrash_probability = 0.5\ncrash_time = 1.0',
    '[failures]\ncrash_probability = [0.5]\ncrash_time = 1.0',
    '[failures]\nplacement = "list"\ncrashed = [[1, 2]]\ncrash_time = 1.0',
    '[failures]\ncrash = "tolerated"\ncrash_time = 1.0\n[firing]\nepsilon = 0.5',
    '[failures]\nstragglers = 1\nstraggler_factor = 4.0',
    '[failures]\nsynapse_stragglers = [0, 1]\nstraggler_factor = 4.0',
    '[failures]\nbyzantine = 1\nbyzantine_mode = "random"',
    '[failures]\nsynapse_byzantine = [1, 0]\nbyzantine_mode = "constant"',
    '[failures]\nplacement = "list"\nbyzantine_list = [[1, 0]]\nbyzantine_mode = "constant"',
    '[firing]\nrule = "quorum"\nquorum = "auto"\nepsilon = 1.0\nallocation = "equal"\n'
    'certify = "paper"',
])
def test_a_key_its_failures_or_quorum_read_is_accepted(tmp_path, capsys, body):
    from neurosim.front.cli import main

    path = tmp_path / "s.toml"
    path.write_text(NET + body + "\n")
    assert main(["bound", str(path)]) == 0, capsys.readouterr().err


def test_a_pinned_file_may_replace_synapses_so_byzantine_mode_is_accepted(tmp_path):
    import numpy as np

    np.savez(tmp_path / "p.npz", replaced1=np.zeros((4, 3), dtype=bool))
    path = tmp_path / "s.toml"
    path.write_text(NET + '[failures]\nplacement = "list"\npinned = "p.npz"\n'
                    'byzantine_mode = "constant"\n')
    assert load_scenario(path).failures.byzantine_mode == "constant"


@pytest.mark.parametrize("body, sweep, key", [
    ('[failures]\ncrash_time = 1.0', '"failures.crash" = [0, 1]', "failures.crash_time"),
    ('[failures]\ncrash_time = 1.0', '"failures.crash_probability" = [0.0, 0.1]',
     "failures.crash_time"),
    ('[failures]\nstraggler_factor = 3.0', '"failures.stragglers" = [0, 1]',
     "failures.straggler_factor"),
    ('[failures]\nbyzantine_mode = "constant"', '"failures.synapse_byzantine" = [0, 1]',
     "failures.byzantine_mode"),
    ('[failures]\nbyzantine_mode = "random"', '"failures.byzantine" = [0, 1]',
     "failures.byzantine_mode"),
    ('[firing]\nrule = "quorum"\nquorum = 3\nepsilon = 1.0\ncertify = "paper"',
     '"firing.quorum" = [3, "auto"]', "firing.certify"),
    ('[firing]\nquorum = "auto"\nepsilon = 1.0\nallocation = "equal"',
     '"firing.rule" = ["wait-all", "quorum"]', "firing.allocation"),
])
def test_a_sweep_that_makes_the_key_read_accepts_it(tmp_path, body, sweep, key):
    """Each point keeps the key; those whose failures or quorum do not read it ignore it."""
    path = tmp_path / "s.toml"
    path.write_text(NET + body + "\n[sweep]\n" + sweep + "\n")
    base = load_scenario(path)
    section, name = key.split(".")
    value = getattr(getattr(base, section), name)
    for swept, values in base.sweep.items():
        for v in values:
            point = point_scenario(path, {swept: v})
            assert getattr(getattr(point, section), name) == value


@pytest.mark.parametrize("body, sweep, key", [
    ('', '"failures.crash_time" = [1.0, 2.0]', "failures.crash_time"),
    ('[failures]\ncrash = 1', '"failures.straggler_factor" = [2.0, 3.0]',
     "failures.straggler_factor"),
    ('[failures]\ncrash_time = 1.0', '"failures.byzantine" = [0, 1]', "failures.crash_time"),
    ('[firing]\nrule = "quorum"\nquorum = 3', '"firing.certify" = ["paper", "signed"]',
     "firing.certify"),
    ('[firing]\nrule = "quorum"\nquorum = 3\nallocation = "equal"',
     '"firing.quorum" = [3, 2]', "firing.allocation"),
])
def test_a_sweep_that_never_reads_the_key_is_refused(tmp_path, capsys, body, sweep, key):
    path = tmp_path / "s.toml"
    path.write_text(NET + body + "\n[sweep]\n" + sweep + "\n")
    one_line_error(capsys, ["sweep", path, "--out", tmp_path / "out"], key)
