"""Time the bounds on a digits-sized network: 784-1000-200-10 sigmoid (~1M weights).

    python benchmarks/bench_bounds.py [--repeats 5]

Best of `repeats` wall-clock runs per bound, 5 crashes per hidden layer.
Targets: paper Fep < 10 ms, weight-aware (global or local K) < 200 ms, signed < 1 s
(and < 20 ms on the bundled digits net, 64-32-16-10). Every bound computes its own
intervals, as a call without `intervals` does: the linear ones (`network_intervals`)
where they cost at most 2e9 flops, which both networks here are.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from neurosim.bounds.intervals import interval_bounds
from neurosim.bounds.linear_intervals import linear_intervals
from neurosim.bounds.paper import paper_fep
from neurosim.bounds.signed import signed_bound
from neurosim.bounds.weight_aware import weight_aware_bound
from neurosim.data.counts import failure_counts
from neurosim.data.network import load_network, random_network

SIZES = [784, 1000, 200, 10]
TARGET_MS = {"paper_fep": 10.0, "weight_aware (global K)": 200.0,
             "weight_aware (local K)": 200.0, "interval_bounds": None,
             "linear_intervals": None, "signed": 1000.0,
             "signed, linear intervals": None,
             "signed, digits [2, 1] crashes": 20.0}


def best_ms(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * min(times)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()

    net = random_network(SIZES, "sigmoid", 0.1, rng=0)
    failures = failure_counts(net, crash=5)
    iv = interval_bounds(net)
    lin = linear_intervals(net)
    digits = load_network(Path(__file__).resolve().parents[1] / "scenarios/nets/digits.npz")
    digits_failures = failure_counts(digits, crash=[2, 1])
    cases = {
        "paper_fep": lambda: paper_fep(net, failures),
        "weight_aware (global K)": lambda: weight_aware_bound(net, failures, local=False),
        "weight_aware (local K)": lambda: weight_aware_bound(net, failures, local=True),
        "interval_bounds": lambda: interval_bounds(net),
        "linear_intervals": lambda: linear_intervals(net),
        "signed": lambda: signed_bound(net, failures),
        "signed, linear intervals": lambda: signed_bound(net, failures,
                                                         intervals=linear_intervals(net)),
        "signed, digits [2, 1] crashes": lambda: signed_bound(digits, digits_failures),
    }
    print(f"network {'-'.join(map(str, SIZES))} sigmoid, {net.n_weights:,} weights, "
          f"5 crashes per hidden layer, best of {args.repeats}")
    print(f"  bounds: paper {paper_fep(net, failures).fep:.4g}, weight-aware global "
          f"{weight_aware_bound(net, failures, local=False, intervals=iv):.4g}, local "
          f"{weight_aware_bound(net, failures, intervals=iv):.4g}, signed "
          f"{signed_bound(net, failures, intervals=iv):.4g} (linear intervals: weight-aware "
          f"{weight_aware_bound(net, failures, intervals=lin):.4g}, signed "
          f"{signed_bound(net, failures, intervals=lin):.4g})")
    ok = True
    for name, fn in cases.items():
        fn()  # warm up
        ms = best_ms(fn, args.repeats)
        target = TARGET_MS[name]
        verdict = "" if target is None else (
            f"target < {target:g} ms: {'ok' if ms < target else 'MISSED'}")
        ok &= target is None or ms < target
        print(f"  {name:<26} {ms:9.2f} ms   {verdict}")
    print(f"numpy {np.__version__}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
