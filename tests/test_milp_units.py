"""The attack's MILP on networks whose hidden layers (or input box) are tiny: HiGHS's
tolerances are absolute, so the program is built in units of order 1, and where the
tolerances could still matter the result is not claimed as proven.

Found by an audit (before the fix, `worst_case_milp` on these networks):
- W1 and every bias scaled by 1e-8 ([2, 3, 2], box [-1, 1], one crash): proven upper
  bound 0 while brute force attains 9.4e-9 (every row below HiGHS's tolerances);
- every weight and bias scaled by 1e-6 ([3, 4, 3, 2], crash (1, 1)): proven 1.50e-13
  against 2.44e-13 attained;
- W1 and b1 scaled by 1e-8 only ([3, 4, 3, 2], one crash): proven 5.58e-9 against
  7.35e-9 attained (the first layer's variation is 1e-8 of the second one's bias:
  below the tolerance in any units);
- input box [-1e-9, 1e-9], W1 and the biases scaled by 1e-6: proven 1.26e-7 against
  2.23e-7.
And with ordinary weights, margins of 1e-9 and 1e-7 in the program were within
HiGHS's tolerances (`test_milp_finds_a_crash_whose_deviation_meets_its_bound`).
Every figure is checked against brute force over every failed set and a grid of
inputs (tests/test_attack.py's, written independently of neurosim.attack).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from neurosim.attack.milp import worst_case_milp
from neurosim.attack.run import attack
from neurosim.attack.witness import engine_error, trial_plan
from neurosim.data.network import make_network, random_network, save_network
from neurosim.data.scenario import load_scenario
from neurosim.runner import run_trials
from neurosim.setup import prepare
from tests.test_attack import brute_force, model_of
from tests.test_run_cli import write_scenario


def _scaled(sizes, mode: str, c: float, box: float, seed: int = 3):
    net = random_network(sizes, "relu", 1.0, rng=seed, input_low=-1.0, input_high=1.0)
    W, b = [w.copy() for w in net.weights], [v.copy() for v in net.biases]
    if mode == "first":  # W1 and every bias: every output scales by c exactly
        W[0] = W[0] * c
        b = [v * c for v in b]
    elif mode == "hidden_only":  # W1 and b1: the first layer tiny next to the next bias
        W[0], b[0] = W[0] * c, b[0] * c
    else:  # "all"
        W, b = [w * c for w in W], [v * c for v in b]
    return make_network(W, b, list(net.activations), -box, box)


def _grid(net, box: float, n0: int) -> np.ndarray:
    g = np.linspace(-box, box, 41 if n0 == 2 else 13)
    return np.array(list(itertools.product(*[g] * n0)))


CASES = [  # sizes, mode, scale, box, failures
    ([2, 3, 2], "first", 1e-8, 1.0, dict(crash=(1,))),
    ([2, 3, 2], "first", 1e-12, 1.0, dict(lost=(0, 1))),
    ([2, 3, 2], "first", 1e-6, 1e-9, dict(crash=(1,))),
    ([2, 3, 3, 2], "first", 1e-10, 1.0, dict(crash=(1, 1))),
    ([2, 3, 3, 2], "hidden_only", 1e-6, 1.0, dict(crash=(1, 1))),
    ([3, 4, 3, 2], "all", 1e-6, 1.0, dict(crash=(1, 1))),
    ([3, 4, 3, 2], "hidden_only", 1e-8, 1.0, dict(crash=(1, 0))),
    ([3, 4, 3, 2], "first", 1e-8, 1e-9, dict(crash=(1, 0), lost=(1, 0, 0))),
]


@pytest.mark.parametrize("sizes, mode, c, box, failures", CASES)
def test_milp_bound_holds_with_tiny_hidden_layers(sizes, mode, c, box, failures):
    net = _scaled(sizes, mode, c, box)
    model = model_of(**{"crash": (0,) * (len(sizes) - 2), "lost": (0,) * (len(sizes) - 1),
                        **failures})
    grid = brute_force(net, model, _grid(net, box, sizes[0]))
    assert grid > 0
    res = worst_case_milp(net, model, time_limit=30.0)
    # The bound (with the tolerances' reach) is never below an error the model attains.
    slack = getattr(res, "slack", 0.0)  # (before the fix: no such field)
    assert grid <= res.upper + slack
    # Proven means the program's optimum is trustworthy: its own argmax replays to it,
    # and the slack is small against it.
    if res.proven:
        assert slack <= 2e-2 * res.upper
        assert engine_error(net, trial_plan(net, res.batch)) == \
            pytest.approx(res.value, rel=1e-4)


def test_attack_report_with_a_tiny_first_layer(tmp_path):
    """The report's bound_milp is above the witness's error as `run` measures it, and above
    brute force; exact only when brute force agrees (the first layer varies by 1e-6 of the
    next bias: before, bound_milp was 0.7148994 against 0.7149007 attained)."""
    net = _scaled([2, 3, 3, 2], "hidden_only", 1e-6, 1.0)
    save_network(net, tmp_path / "net.npz")
    scn = write_scenario(tmp_path / "s.toml", {
        "seed": 0, "trials": 2, "network": {"file": "net.npz"},
        "inputs": {"kind": "uniform"}, "failures": {"crash": [1, 1]}})
    report = attack(prepare(load_scenario(scn)), time_limit=20.0, out_dir=tmp_path / "w")
    grid = brute_force(net, model_of(crash=(1, 1)), _grid(net, 1.0, 2))
    replay = load_scenario(report["replay_scenario"])
    measured = run_trials(prepare(replay), "fast")["max_error"]
    assert measured == pytest.approx(report["worst_error"], rel=1e-9)
    assert report["bound_milp"] is not None
    assert measured <= report["bound_milp"] and grid <= report["bound_milp"]
    assert report["worst_error"] <= report["bound_tightest"]
    if report["exact"]:
        assert grid <= report["worst_error"] * (1 + 1e-5)


def test_milp_finds_a_crash_whose_deviation_meets_its_bound():
    """A 3-4-3-2 relu network whose first layer is constant (W1 = 0): crashing neuron 4 of
    layer 1 moves neuron 2 of layer 2 by exactly the deviation bound (to 1e-9), and
    the output by 0.3555 (brute force). The program's margins were 1e-9 (deviation rows)
    and 1e-7 (big-M intervals): HiGHS declared the crash infeasible, or called a point of
    error 6e-7 optimal, and the MILP proved 0 (one crash) or 0.1455 (with a lost input
    synapse) -- on a network of ordinary magnitudes."""
    W2 = [[-0.1387439591716444, 0.6943885715051259, 0.4756755745843204, 3.6501380386887883],
          [-3.4527813800193368, 9.507021253108803, 3.139455946722487, -13.265872063200824],
          [-0.24925495824558191, 0.9469205495328255, -0.10079938849156217, -0.3720279959313264]]
    W3 = [[0.1958555352225786, 0.005322683743181754, -0.057380669636337256],
          [0.1366385048244082, -0.02935337452109555, 0.413930191311247]]
    b = [[-0.6751482781003726, -0.549148192108236, 0.8616781757607538, 0.5791009829750663],
         [-1.5720054463400757, 5.587331536081543, -0.27090091398502425],
         [0.32448032327728404, 0.2981845579039091]]
    net = make_network([np.zeros((4, 3)), np.array(W2), np.array(W3)],
                       [np.array(v) for v in b], "relu", -0.5, 0.5)
    X = np.zeros((1, 3))  # the network is constant in x
    for failures in (dict(crash=(1, 0)), dict(crash=(1, 0), lost=(1, 0, 0))):
        model = model_of(**failures)
        worst = brute_force(net, model, X)
        assert worst == pytest.approx(0.35553591, rel=1e-6)
        res = worst_case_milp(net, model, time_limit=30.0)
        assert worst <= res.upper + getattr(res, "slack", 0.0)
        if res.proven:
            assert res.value == pytest.approx(worst, rel=1e-6)
