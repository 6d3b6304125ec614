"""Time `neurosim attack` on the bundled digits nets.

    python benchmarks/bench_attack.py [--time-limit 300]

1. The sigmoid digits net (64-32-16-10), 1 crashed neuron per hidden layer, search only
   (60 s budget): target under 60 s and a worst error of at least 4.33 (the worst over the
   540 held-out digits with every crashed set tried), and the MILP over an enclosure of
   sigmoid with the time left (an upper bound on the worst case).
2. The relu digits net (scenarios/nets/make_digits_relu.py), same failures, search and MILP:
   how long the MILP takes to prove the worst case (target under 5 minutes), or the proven
   upper bound when it does not finish within --time-limit.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from neurosim.attack.run import attack
from neurosim.data.scenario import parse_scenario
from neurosim.setup import prepare

NETS = Path(__file__).resolve().parents[1] / "scenarios" / "nets"


def case(net: str, time_limit: float) -> dict:
    scn = parse_scenario({"name": net, "network": {"file": str(NETS / net)},
                          "inputs": {"kind": "dataset"}, "failures": {"crash": [1, 1]}})
    t0 = time.perf_counter()
    report = attack(prepare(scn), time_limit)
    report["wall_s"] = time.perf_counter() - t0
    return report


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--time-limit", type=float, default=300.0, help="for the relu MILP")
    args = p.parse_args()
    r = case("digits.npz", 60.0)
    ok = r["wall_s"] < 60 and r["worst_error"] >= 4.33
    print(f"sigmoid digits, crash [1, 1]: worst {r['worst_error']:.4f} in {r['wall_s']:.1f} s "
          f"(target < 60 s and >= 4.33: {'met' if ok else 'NOT met'}); enclosure MILP bound "
          f"{r.get('bound_milp')}, signed {r.get('bound_signed')}")
    r = case("digits_relu.npz", args.time_limit)
    print(f"relu digits, crash [1, 1]: worst {r['worst_error']:.4f}, MILP bound "
          f"{r.get('bound_milp')}, exact {r['exact']}, {r['wall_s']:.1f} s; {r['method']}")
