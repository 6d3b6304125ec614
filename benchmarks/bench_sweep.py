"""A 16-point sweep on 1 worker and on 2 dask workers: wall time, speed-up, identical rows.

The sweep is the digits quorum scenario (scenarios/boosting-tradeoff.toml)
over 4 error budgets x 4 latency models, `--trials` trials per point on the
vectorised engine. "1 worker" is the sweep in this process (no dask);
"2 workers" is a dask LocalCluster of 2 single-threaded worker processes,
timed once with the cluster's start-up and shutdown (`--workers 2`; the
workers start while the client checks the grid) and once on a cluster
already running (`--scheduler`). The figures need a quiet machine: with
another process busy on one of the 2 cores, the 2 workers share the other
and the trial loops' summed time (printed last) doubles.
The rows of sweep.csv (but elapsed_s) and every point's trials.csv must be
identical. Target speed-up on 2 free cores: >= 1.7.

    python benchmarks/bench_sweep.py [--trials N]

The default is 20000 trials per point: since the batched bounds, 2000 trials
take ~0.2 s a point and the sweep (~5 s in all) measures start-up, not
simulating in parallel.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

from dask.distributed import Client

from neurosim.sweep import local_cluster, run_sweep

ROOT = Path(__file__).resolve().parents[1]

SWEEP = """
[sweep]
"firing.epsilon" = [4.0, 8.0, 12.0, 20.0]
"latency.model" = ["exponential", "lognormal", "pareto", "uniform"]
"""


def scenario(folder: Path, trials: int) -> Path:
    """The tradeoff scenario with a 16-point grid and `trials` trials, beside its network."""
    text = (ROOT / "scenarios" / "boosting-tradeoff.toml").read_text()
    text = text[:text.index("[sweep]")] + SWEEP
    text = text.replace("trials = 200", f"trials = {trials}")
    text = text.replace('file = "nets/digits.npz"',
                        f'file = "{ROOT / "scenarios" / "nets" / "digits.npz"}"')
    path = folder / "sweep16.toml"
    path.write_text(text)
    return path


def simulating(out: Path) -> float:
    """Seconds the points spent in their trial loops (sum of sweep.csv's elapsed_s)."""
    with open(out / "sweep.csv", newline="") as f:
        return sum(float(r["elapsed_s"]) for r in csv.DictReader(f))


def rows(out: Path) -> dict[str, dict]:
    with open(out / "sweep.csv", newline="") as f:
        return {r["point"]: {k: v for k, v in r.items() if k != "elapsed_s"}
                for r in csv.DictReader(f)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=20000,
                    help="trials per point (default 20000)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = scenario(tmp, args.trials)
        t0 = time.perf_counter()
        run_sweep(path, tmp / "w1", engine="fast")
        serial = time.perf_counter() - t0
        # 2 workers: once including the cluster's start (as `--workers 2` does), once on a
        # cluster already started and warmed up (imports done), as with `--scheduler`.
        t0 = time.perf_counter()
        run_sweep(path, tmp / "w2", engine="fast", workers=2)
        with_start = time.perf_counter() - t0
        with local_cluster(2) as cluster, Client(cluster) as client:
            client.run(lambda: __import__("neurosim.runner"))
            t0 = time.perf_counter()
            run_sweep(path, tmp / "w2-started", engine="fast",
                      scheduler=cluster.scheduler_address)
            started = time.perf_counter() - t0
        loops = {name: simulating(tmp / name) for name in ("w1", "w2", "w2-started")}
        one = rows(tmp / "w1")
        same = len(one) == 16 and all(
            rows(tmp / other) == one and all(
                (tmp / "w1" / "points" / p / "trials.csv").read_bytes()
                == (tmp / other / "points" / p / "trials.csv").read_bytes() for p in one)
            for other in ("w2", "w2-started"))
    print(f"16 points x {args.trials} trials, engine fast")
    print(f"1 worker (no dask)               {serial:8.1f} s")
    print(f"2 workers, cluster start counted {with_start:8.1f} s   speed-up "
          f"{serial / with_start:.2f}")
    print(f"2 workers, cluster started       {started:8.1f} s   speed-up {serial / started:.2f}")
    print(f"identical rows and trials.csv: {same}")
    # Where the 2-worker time goes: the trial loops of two points at once run slower than
    # one alone (shared caches and memory bandwidth), the rest is outside the loops
    # (start-up, imports, setup, the grid check, the last point's tail).
    print(f"trial loops, summed over points: 1 worker {loops['w1']:.1f} s, 2 workers "
          f"{loops['w2']:.1f} s and {loops['w2-started']:.1f} s; outside the loops: "
          f"1 worker {serial - loops['w1']:.1f} s, 2 workers "
          f"{with_start - loops['w2'] / 2:.1f} s and {started - loops['w2-started'] / 2:.1f} s")


if __name__ == "__main__":
    main()
