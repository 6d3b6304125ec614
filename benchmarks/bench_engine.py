"""Messages per second of the SimPy engine next to a bare SimPy loop, measured in one run.

The bare loop delivers the same messages with the same scheduling: one
process per neuron that wakes at the time the engine fired it, and one
Timeout per message whose callback only counts it. The ratio
engine / bare is what the engine's own logic (inboxes, firing rules, the
neuron's computation) costs on top of SimPy. Target: >= 0.7.

    python benchmarks/bench_engine.py [--trials N] [--sizes 784,1000,200,10]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import simpy

from neurosim.data.scenario import parse_scenario
from neurosim.engines.des import simulate_des
from neurosim.engines.fast import simulate_fast
from neurosim.engines.plan import FiringRule, Planner
from neurosim.setup import prepare

SIZES = [64, 128, 128, 128, 10]


def bare_simpy(plan, fire_time: list[np.ndarray]) -> int:
    """Deliver every message the engine sent, at the same times, doing nothing else."""
    env = simpy.Environment()
    delivered = [0]

    def count(_event) -> None:
        delivered[0] += 1

    def sender(l: int, i: int, t: float):
        yield env.timeout(t)
        latency = plan.latency[l][:, i]
        for j in range(len(latency)):
            env.timeout(latency[j], value=(j, i, 0.0)).callbacks.append(count)

    for l, times in enumerate(fire_time[:-1]):
        for i, t in enumerate(times):
            if np.isfinite(t):
                env.process(sender(l, i, t))
    env.run()
    return delivered[0]


def measure(rule: dict, trials: int, sizes: list[int] = SIZES) -> dict:
    scn = parse_scenario(dict(seed=1, trials=trials, network=dict(sizes=sizes),
                              latency=dict(model="exponential", mean=1.0), firing=rule))
    setup = prepare(scn)
    planner = Planner(scn, setup.net, setup.inputs)
    firing = FiringRule.from_scenario(scn, setup.quorum)
    plans = [planner.plan(i) for i in range(trials)]
    t_engine = t_bare = t_fast = 0.0
    messages = 0
    for plan in plans:
        t0 = time.perf_counter()
        out = simulate_des(setup.net, plan, firing)
        t1 = time.perf_counter()
        n = bare_simpy(plan, out.fire_time)
        t2 = time.perf_counter()
        simulate_fast(setup.net, plan, firing)
        t3 = time.perf_counter()
        assert n == out.messages["sent"] - out.messages["lost"]
        messages += n
        t_engine += t1 - t0
        t_bare += t2 - t1
        t_fast += t3 - t2
    return dict(messages=messages, engine=messages / t_engine, bare=messages / t_bare,
                fast_speedup=t_engine / t_fast)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)),
                    help="layer sizes N_0,...,N_{L+1} (a random network)")
    args = ap.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]
    print(f"network {'-'.join(map(str, sizes))}, exponential(1) latencies, "
          f"{args.trials} trials per rule")
    print(f"{'rule':<22}{'messages':>10}{'engine msg/s':>14}{'bare msg/s':>12}{'ratio':>8}"
          f"{'fast engine x':>15}")
    for name, rule in (("wait-all", dict(rule="wait-all")),
                       ("quorum N-8", dict(rule="quorum", quorum=[n - 8 for n in sizes[:-1]]))):
        r = measure(rule, args.trials, sizes)
        print(f"{name:<22}{r['messages']:>10}{r['engine']:>14.0f}{r['bare']:>12.0f}"
              f"{r['engine'] / r['bare']:>8.2f}{r['fast_speedup']:>15.1f}")


if __name__ == "__main__":
    main()
