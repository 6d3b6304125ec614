"""Time per trial, messages per second and peak memory of each engine on a large network.

Each engine runs `neurosim run SCENARIO --engine E --trials N` in its own
process (so the peak resident memory is that run's alone, read from
getrusage of the child). Messages are those sent (summary.json
messages_sent); the time is the run's own elapsed_s (simulation, bounds,
checks, writing), without start-up and plots. Peak memory: the child's
getrusage ru_maxrss (Linux: kB).

    python scenarios/nets/make_large.py        # once: the 784-1000-200-10 network
    python benchmarks/bench_large.py [--scenario S] [--des-trials N] [--fast-trials N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(scenario: Path, engine: str, trials: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        code = ("import json, sys; from pathlib import Path; "
                "from neurosim.data.scenario import load_scenario; "
                "from neurosim.runner import run_trials; from neurosim.setup import prepare; "
                f"s = run_trials(prepare(load_scenario({str(scenario)!r}, "
                f"{{'trials': {trials}}})), {engine!r}, Path({tmp!r})); "
                "import resource; "
                "s['peak_kb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; "
                "print(json.dumps(s))")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True)
    s = json.loads(done.stdout)
    return dict(engine=engine, trials=s["trials"], per_trial=s["elapsed_s"] / s["trials"],
                msgs=s["messages_sent"] / s["elapsed_s"], peak_mb=s["peak_kb"] / 1024,
                violations=s["violations"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default=str(ROOT / "benchmarks" / "large-network.toml"))
    ap.add_argument("--des-trials", type=int, default=2)
    ap.add_argument("--fast-trials", type=int, default=50)
    args = ap.parse_args()
    print(f"{'engine':<8}{'trials':>8}{'s/trial':>10}{'msgs/s':>12}{'peak MB':>10}"
          f"{'violations':>12}")
    for engine, n in (("fast", args.fast_trials), ("des", args.des_trials)):
        if n <= 0:  # --des-trials 0: the fast engine alone
            continue
        r = measure(Path(args.scenario), engine, n)
        print(f"{r['engine']:<8}{r['trials']:>8}{r['per_trial']:>10.3f}{r['msgs']:>12.0f}"
              f"{r['peak_mb']:>10.0f}{r['violations']:>12}", flush=True)


if __name__ == "__main__":
    main()
