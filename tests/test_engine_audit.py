"""An outside audit of the two engines on tiny networks whose truth is counted by hand, or
computed by an independent neuron-by-neuron reference written here (plain Python loops
over the trial plan, no engine code): firing rules, ties, crashes, the horizon, message
counts, in both engines and in the batched one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neurosim.data.scenario import parse_scenario
from neurosim.engines.block import simulate_block, stack_plans
from neurosim.engines.des import simulate_des
from neurosim.engines.fast import simulate_fast
from neurosim.engines.plan import FiringRule, Planner
from neurosim.setup import prepare


def _outcomes(data: dict, trials: int = 1):
    """Every engine's outcome of each trial of a scenario dict: [(plan, {engine: out})]."""
    scn = parse_scenario(dict(data, trials=trials))
    setup = prepare(scn)
    planner = Planner(scn, setup.net, setup.inputs)
    rule = FiringRule.from_scenario(scn, setup.quorum)
    plans = [planner.plan(t) for t in range(trials)]
    block = simulate_block(setup.net, stack_plans(plans), rule)
    return [(plan, {"des": simulate_des(setup.net, plan, rule),
                    "fast": simulate_fast(setup.net, plan, rule),
                    "block": block.trial(t)}) for t, plan in enumerate(plans)]


@pytest.mark.filterwarnings("ignore:overflow encountered in multiply:RuntimeWarning")
def test_a_message_with_an_infinite_delay_is_in_flight_in_every_engine():
    """A straggler 1e308 times slower: its delay overflows to inf. The message was sent,
    not lost, and never arrives: it is still travelling at the horizon, so that
    sent = received + lost + in_flight holds. By hand, [3, 4, 2], delays 2, quorum 3 of
    4 at the outputs: 12 + 8 sent, 12 + 6 received and used, the straggler's 2 in flight."""
    data = {"seed": 1, "network": {"sizes": [3, 4, 2]},
            "failures": {"stragglers": 1, "straggler_factor": 1e308},
            "latency": {"model": "constant", "mean": 2.0},
            "firing": {"rule": "quorum", "quorum": [3, 3], "horizon": 10.0}}
    [(plan, outs)] = _outcomes(data)
    assert np.isinf(plan.latency[1]).sum() == 2
    for name, out in outs.items():
        assert out.messages == dict(sent=20, received=18, lost=0, in_flight=2, used=18,
                                    wasted=0), name
        assert list(out.fire_time[2]) == [4.0, 4.0], name
