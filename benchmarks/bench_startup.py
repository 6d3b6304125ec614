"""Where `neurosim run` spends its time outside the trial loop, and how fast `--help` answers.

Each measurement runs in a fresh interpreter (imports are the point). Wall
times on a shared machine vary with its load, so CPU seconds are given too.

    python benchmarks/bench_startup.py [--repeat N] [--scenario scenarios/byzantine.toml]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time

PHASES = """
import json, sys, time
clock = time.perf_counter
cpu = time.process_time
marks = [(clock(), cpu())]
import neurosim.front.cli  # the command line parser alone
marks.append((clock(), cpu()))
from pathlib import Path
from neurosim.data.scenario import load_scenario
from neurosim.front.plots import plot_results
from neurosim.runner import run_trials
from neurosim.setup import prepare
marks.append((clock(), cpu()))
setup = prepare(load_scenario(sys.argv[1], {"trials": 5}))
marks.append((clock(), cpu()))
run_trials(setup, "fast", Path(sys.argv[2]))
marks.append((clock(), cpu()))
plot_results(Path(sys.argv[2]))
marks.append((clock(), cpu()))
names = ["cli import", "run imports", "setup", "5 trials", "plots"]
print(json.dumps({n: [b[0] - a[0], b[1] - a[1]] for n, a, b in zip(names, marks, marks[1:])}))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--scenario", default="scenarios/byzantine.toml")
    args = p.parse_args()

    helps = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "neurosim", "--help"], check=True,
                       capture_output=True)
        helps.append(time.perf_counter() - start)
    print(f"neurosim --help: best {min(helps):.2f} s wall of {args.repeat}")

    best: dict[str, list[float]] = {}
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as out:
            res = subprocess.run([sys.executable, "-c", PHASES, args.scenario, out],
                                 check=True, capture_output=True, text=True)
        for name, (wall, cpu) in json.loads(res.stdout).items():
            old = best.get(name, [float("inf"), float("inf")])
            best[name] = [min(old[0], wall), min(old[1], cpu)]
    print(f"neurosim run {args.scenario} --trials 5 --engine fast, best of {args.repeat}:")
    for name, (wall, cpu) in best.items():
        print(f"  {name:12} {wall:6.2f} s wall  {cpu:6.2f} s CPU")


if __name__ == "__main__":
    main()
