"""`import neurosim` gives what the CLI does (INTERFACE 5), and the two agree."""

import json

import numpy as np

import neurosim
from neurosim.front.cli import main


def test_python_api_matches_the_cli(tmp_path):
    scn = neurosim.load_scenario("scenarios/byzantine.toml", {"trials": 20})
    setup = neurosim.prepare(scn)
    summary = neurosim.run_trials(setup, "fast", tmp_path / "api")
    assert main(["run", "scenarios/byzantine.toml", "--trials", "20", "--engine", "fast",
                 "--out", str(tmp_path / "cli")]) == 0
    cli = json.loads((tmp_path / "cli" / "summary.json").read_text())
    for key in ("bound_paper", "bound_weight_aware", "max_error", "latency_p99", "violations"):
        assert summary[key] == cli[key]
    assert (tmp_path / "api" / "trials.csv").read_bytes() == \
        (tmp_path / "cli" / "trials.csv").read_bytes()
    report = neurosim.bound_report(setup.net, setup.failures)
    assert report["bound_paper"] == summary["bound_paper"]
    assert neurosim.plot_results(tmp_path / "api")


def test_network_round_trip_through_the_api(tmp_path):
    net = neurosim.random_network([3, 4, 2], "tanh", 0.7, rng=5)
    neurosim.save_network(net, tmp_path / "n.npz")
    back = neurosim.load_network(tmp_path / "n.npz")
    x = np.random.default_rng(0).random((5, 3))
    assert np.array_equal(back.forward(x), net.forward(x))
    assert neurosim.to_graph(back).number_of_edges() == 3 * 4 + 4 * 2
