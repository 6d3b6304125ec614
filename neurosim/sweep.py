"""`neurosim sweep`: run a scenario's [sweep] grid, one row per point, resumable.

The grid is the product of the [sweep] lists over dotted keys (as desmod's
factorial sweeps). Each point is an ordinary run in DIR/points/<id>/ (its own
trials.csv and summary.json; no plots: a sweep's time goes to simulating, and
the front draws a point's plots on request) and a row of DIR/sweep.csv,
appended as soon as the point is done. A point whose row is already in
sweep.csv, run from the same resolved scenario (`scenario_hash`), is not run
again, so an interrupted sweep resumes where it stopped; a point whose
scenario or input files changed since is run again. Points run one after
the other, or on dask.distributed workers (`--workers N`, `--scheduler ADDR`);
a point's results do not depend on where it ran, since all its randomness
derives from its scenario seed and trial indices.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neurosim.data import strict_json
from neurosim.data.scenario import Scenario, load_scenario
from neurosim.errors import InputError

# summary.json keys copied into each sweep.csv row.
ROW_KEYS = ["trials", "bound_paper", "bound_weight_aware", "bound_signed", "bound_given_set_max",
            "max_error",
            "mean_error", "violations", "blocked_trials", "latency_mean", "latency_p50",
            "latency_p99", "messages_sent", "messages_used", "accuracy", "fault_free_accuracy",
            "agreement", "quorum", "certificate_epsilon", "elapsed_s"]


def read_sweep(out_dir: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The swept keys and the rows of sweep.csv."""
    with open(out_dir / "sweep.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        keys = [k for k in reader.fieldnames or []
                if k not in ("point", "scenario_hash") and k not in ROW_KEYS]
    return keys, rows


def grid(scn: Scenario) -> list[dict[str, Any]]:
    """Every point of the [sweep] grid as {dotted key: value}, in a fixed order."""
    keys = list(scn.sweep)
    return [dict(zip(keys, values, strict=True))
            for values in itertools.product(*(scn.sweep[k] for k in keys))]


def point_id(point: dict[str, Any]) -> str:
    """A short, stable name for a grid point (its folder under points/)."""
    text = json.dumps(point, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def point_scenario(path: str | Path, point: dict[str, Any]) -> Scenario:
    """The scenario one grid point runs: the base file with the point's values."""
    return load_scenario(path, {**point, "sweep": {}})


# Keys whose value is a file the run reads: their contents count, not only their names.
FILE_KEYS = [("network", "file"), ("inputs", "file"), ("inputs", "labels"), ("latency", "file")]


def scenario_hash(scn: Scenario) -> str:
    """A fingerprint of everything a run depends on: the whole resolved scenario
    (every key, defaults filled in), the bytes of each file it reads and the
    neurosim version that runs it.

    A sweep.csv row stays valid only while its point's fingerprint is unchanged.
    """
    from neurosim import __version__

    h = hashlib.sha256(json.dumps(scn.to_dict(), sort_keys=True).encode())
    h.update(f"neurosim {__version__}".encode())
    for section, key in FILE_KEYS:
        rel = getattr(getattr(scn, section), key)
        if rel is not None and scn.path(rel).is_file():
            h.update(f"{section}.{key}".encode())
            h.update(hashlib.sha256(scn.path(rel).read_bytes()).digest())
    return h.hexdigest()[:16]


def run_point(path: str, point: dict[str, Any], out_dir: str, engine: str) -> dict[str, Any]:
    """Run one grid point; returns its sweep.csv row. Importable by dask workers."""
    from neurosim.runner import run_trials
    from neurosim.setup import prepare

    scn = point_scenario(path, point)
    pid = point_id(point)
    folder = Path(out_dir) / "points" / pid
    summary = run_trials(prepare(scn), engine, folder)
    row = {"point": pid, "scenario_hash": scenario_hash(scn),
           **{k: strict_json.dumps(v) for k, v in point.items()}}
    # An undefined number (NaN) is an empty cell, as in trials.csv; inf is "inf".
    row.update({k: "" if isinstance(v, float) and math.isnan(v) else v
                for k, v in ((k, summary.get(k, "")) for k in ROW_KEYS)})
    row["quorum"] = strict_json.dumps(summary.get("quorum"))
    return row


def read_rows(csv_path: Path) -> list[dict[str, str]]:
    """The rows of an existing sweep.csv (none if there is no file)."""
    if not csv_path.is_file():
        return []
    with open(csv_path, newline="") as f:
        return list(csv.DictReader(f))


def done_points(csv_path: Path) -> set[str]:
    return {r["point"] for r in read_rows(csv_path)}


def _keep_current(csv_path: Path, fields: list[str], current: dict[str, str]) -> int:
    """Drop the rows of sweep.csv that no longer describe the grid: a point not in
    it, or one run from another scenario (current: point id -> its scenario hash).

    Rewrites the file (atomically, header `fields`) when a row is dropped or the
    header differs; returns how many rows were dropped.
    """
    if not csv_path.is_file():
        return 0
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        header = reader.fieldnames or []
    if "point" not in header:  # not ours: never overwrite it
        raise InputError(str(csv_path), None, "not a sweep.csv written by neurosim sweep "
                         "(no 'point' column); choose another --out folder")
    kept = [r for r in rows if current.get(r["point"]) == r.get("scenario_hash")]
    if len(kept) == len(rows) and list(header) == fields:
        return 0
    tmp = csv_path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(kept)
    tmp.replace(csv_path)
    return len(rows) - len(kept)


def run_sweep(path: str | Path, out_dir: Path, engine: str = "des", workers: int = 1,
              scheduler: str | None = None,
              on_row: Callable[[dict[str, Any]], None] | None = None,
              on_stale: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Run every point of the scenario's grid not yet in out_dir/sweep.csv.

    A row counts as done only if it was run from the same resolved scenario
    (`scenario_hash`): after an edit of the base scenario or of a file it
    reads, the affected points are run again and their old rows dropped, as
    are rows of points no longer in the grid (`on_stale` gets how many).
    """
    scn = load_scenario(path)
    if not scn.sweep:
        raise InputError(str(path), "sweep", "no [sweep] table: nothing to sweep")
    points = grid(scn)
    for key in scn.sweep:  # every key must be a valid scenario key: check once, up front
        load_scenario(path, {key: scn.sweep[key][0], "sweep": {}})
    current = {point_id(p): scenario_hash(point_scenario(path, p)) for p in points}
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / "sweep.csv"
    fields = ["point", "scenario_hash", *scn.sweep, *ROW_KEYS]
    dropped = _keep_current(csv_path, fields, current)
    if dropped and on_stale:
        on_stale(dropped)
    done = done_points(csv_path)
    todo = [p for p in points if point_id(p) not in done]
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
