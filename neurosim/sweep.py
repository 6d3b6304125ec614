"""`neurosim sweep`: run a scenario's [sweep] grid, one row per point, resumable.

The grid is the product of the [sweep] lists over dotted keys (as desmod's
factorial sweeps). Each point is an ordinary run in DIR/points/<id>/ (its own
trials.csv and summary.json; no plots: a sweep's time goes to simulating, and
the front draws a point's plots on request) and a row of DIR/sweep.csv,
appended as soon as the point is done. A point whose row is already in sweep.csv is not run
again, so an interrupted sweep resumes where it stopped. Points run one after
the other, or on dask.distributed workers (`--workers N`, `--scheduler ADDR`);
a point's results do not depend on where it ran, since all its randomness
derives from its scenario seed and trial indices.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neurosim.data.scenario import Scenario, load_scenario
from neurosim.errors import InputError

# summary.json keys copied into each sweep.csv row.
ROW_KEYS = ["trials", "bound_paper", "bound_weight_aware", "bound_given_set_max", "max_error",
            "mean_error", "violations", "blocked_trials", "latency_mean", "latency_p50",
            "latency_p99", "messages_sent", "messages_used", "accuracy", "fault_free_accuracy",
            "agreement", "quorum", "certificate_epsilon", "elapsed_s"]


def grid(scn: Scenario) -> list[dict[str, Any]]:
    """Every point of the [sweep] grid as {dotted key: value}, in a fixed order."""
    keys = list(scn.sweep)
    return [dict(zip(keys, values, strict=True))
            for values in itertools.product(*(scn.sweep[k] for k in keys))]


def point_id(point: dict[str, Any]) -> str:
    """A short, stable name for a grid point (its folder under points/)."""
    text = json.dumps(point, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def run_point(path: str, point: dict[str, Any], out_dir: str, engine: str) -> dict[str, Any]:
    """Run one grid point; returns its sweep.csv row. Importable by dask workers."""
    from neurosim.runner import run_trials
    from neurosim.setup import prepare

    scn = load_scenario(path, {**point, "sweep": {}})
    pid = point_id(point)
    folder = Path(out_dir) / "points" / pid
    summary = run_trials(prepare(scn), engine, folder)
    row = {"point": pid, **{k: json.dumps(v) for k, v in point.items()}}
    row.update({k: summary.get(k, "") for k in ROW_KEYS})
    row["quorum"] = json.dumps(row["quorum"])
    return row


def done_points(csv_path: Path) -> set[str]:
    if not csv_path.is_file():
        return set()
    with open(csv_path, newline="") as f:
        return {r["point"] for r in csv.DictReader(f)}


def run_sweep(path: str | Path, out_dir: Path, engine: str = "des", workers: int = 1,
              scheduler: str | None = None,
              on_row: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Run every point of the scenario's grid not yet in out_dir/sweep.csv."""
    scn = load_scenario(path)
    if not scn.sweep:
        raise InputError(str(path), "sweep", "no [sweep] table: nothing to sweep")
    points = grid(scn)
    for key in scn.sweep:  # every key must be a valid scenario key: check once, up front
        load_scenario(path, {key: scn.sweep[key][0], "sweep": {}})
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / "sweep.csv"
    done = done_points(csv_path)
    todo = [p for p in points if point_id(p) not in done]
    fields = ["point", *scn.sweep, *ROW_KEYS]
    new_file = not csv_path.is_file()
    rows = []
    with open(csv_path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        if new_file:
            writer.writeheader()

        def keep(row: dict[str, Any]) -> None:
            writer.writerow(row)
            handle.flush()
            rows.append(row)
            if on_row:
                on_row(row)

        if workers <= 1 and scheduler is None:
            for p in todo:
                keep(run_point(str(path), p, str(out_dir), engine))
        else:
            _run_on_dask(str(path), todo, str(out_dir), engine, workers, scheduler, keep)
    return rows


def _run_on_dask(path: str, todo: list[dict[str, Any]], out_dir: str, engine: str,
                 workers: int, scheduler: str | None, keep) -> None:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise InputError(path, "--workers",
                         "needs dask.distributed: pip install 'neurosim[sweep]'") from None
    if scheduler:
        client = Client(scheduler)
    else:
        client = Client(LocalCluster(n_workers=workers, threads_per_worker=1,
                                     processes=True, dashboard_address=None))
    with client:
        futures = [client.submit(run_point, path, p, out_dir, engine, pure=False) for p in todo]
        for fut in as_completed(futures):
            keep(fut.result())
