"""`neurosim sweep`: run a scenario's [sweep] grid, one row per point, resumable.

The grid is the product of the [sweep] lists over dotted keys (as desmod's
factorial sweeps). Each point is an ordinary run in DIR/points/<id>/ (its own
trials.csv and summary.json; no plots: a sweep's time goes to simulating, and
the front draws a point's plots on request) and a row of DIR/sweep.csv,
appended as soon as the point is done, each cell a plain value (`wait-all`,
`4.0`, `[30, 14, 8]`; docs/formats.md). Before the first point runs, every
point is checked against its network (`check_grid`), so a bad point stops the
sweep at once, not after the points before it. A point whose row is already in
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
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neurosim.data import atomic, strict_json
from neurosim.data.scenario import Scenario, load_scenario
from neurosim.errors import InputError

# summary.json keys copied into each sweep.csv row.
ROW_KEYS = ["trials", "bound_paper", "bound_weight_aware", "bound_signed", "bound_given_set_max",
            "max_error",
            "mean_error", "violations", "blocked_trials", "latency_mean", "latency_p50",
            "latency_p99", "messages_sent", "messages_used", "accuracy", "fault_free_accuracy",
            "agreement", "quorum", "certificate_epsilon", "elapsed_s"]


def read_sweep(out_dir: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """The swept keys and the rows of sweep.csv, with each swept key's value typed
    as in the scenario (`point_values`); the other cells as their text."""
    with open(out_dir / "sweep.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        keys = [k for k in reader.fieldnames or []
                if k not in ("point", "scenario_hash") and k not in ROW_KEYS]
    return keys, [{**r, **point_values(r, keys)} for r in rows]


def cell(value: Any) -> str | int | float:
    """A value as a sweep.csv cell, plain as in trials.csv: a string bare, a number
    as the number (inf as inf), a boolean as true / false, a list or table as JSON
    (`[30, 14, 8]`), nothing and NaN (undefined) as an empty cell."""
    if hasattr(value, "tolist"):  # a numpy scalar or array
        value = value.tolist()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, dict)):
        return strict_json.dumps(value)
    return value


def parse_cell(text: str) -> Any:
    """The value a sweep.csv cell holds, read from its text alone (`cell` reversed,
    where the text is not ambiguous: "1" is read as the number)."""
    if text == "":
        return None
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    if re.fullmatch(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?|-?inf|nan", text):
        return float(text)
    if text[:1] in "[{":
        try:
            return strict_json.loads(text)
        except ValueError:
            pass
    return text


def _readings(text: str) -> list[Any]:
    """The values a swept cell may hold, likeliest first: as `parse_cell` reads it,
    the text itself (a string that looks like a number), and the JSON it holds (the
    cells of sweep.csv files written before cells were plain: '"wait-all"')."""
    out = [parse_cell(text), text]
    try:
        out.append(strict_json.loads(text))
    except ValueError:
        pass
    unique: dict[str, Any] = {}
    for v in out:
        unique.setdefault(json.dumps(v, sort_keys=True), v)
    return list(unique.values())


def point_values(row: dict[str, str], keys: list[str]) -> dict[str, Any]:
    """The swept values of a sweep.csv row, typed as in the scenario's grid.

    A cell's text does not always say its type (the string "1" or the number 1),
    but the row's point id does: it is the hash of the grid point's typed values
    (`point_id`), so the reading of the cells that gives the row's id is the grid's.
    Rows whose id matches no reading (edited by hand) get `parse_cell`'s reading.
    """
    options = [_readings(row[k]) for k in keys]
    for values in itertools.product(*options):
        point = dict(zip(keys, values, strict=True))
        if point_id(point) == row.get("point"):
            return point
    return {k: o[0] for k, o in zip(keys, options, strict=True)}


def describe(point: dict[str, Any]) -> str:
    """A grid point as the user wrote it: "failures.crash=2, latency.model=pareto"."""
    return ", ".join(f"{k}={cell(v)}" for k, v in point.items())


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
FILE_KEYS = [("network", "file"), ("inputs", "file"), ("inputs", "labels"), ("latency", "file"),
             ("failures", "pinned")]


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
    # Plain cells, as in trials.csv: an undefined number (NaN) is empty, inf is "inf".
    return {"point": pid, "scenario_hash": scenario_hash(scn),
            **{k: cell(v) for k, v in point.items()},
            **{k: cell(summary.get(k)) for k in ROW_KEYS}}


def read_rows(csv_path: Path) -> list[dict[str, str]]:
    """The rows of an existing sweep.csv (none if there is no file)."""
    if not csv_path.is_file():
        return []
    with open(csv_path, newline="") as f:
        return list(csv.DictReader(f))


def done_points(csv_path: Path) -> set[str]:
    return {r["point"] for r in read_rows(csv_path)}


def _keep_current(csv_path: Path, fields: list[str],
                  current: dict[str, tuple[str, dict[str, Any], int]]) -> int:
    """Drop the rows of sweep.csv that no longer describe the grid: a point not in
    it, or one run from another scenario (current: point id -> its scenario hash
    and its point, as `check_grid` returns).

    Rewrites the file (atomically, header `fields`) when a row is dropped, the
    header differs or a kept row's cells are not plain (a sweep.csv written when
    swept values were JSON, '"wait-all"': its rows are kept, rewritten plain from
    the grid's values); returns how many rows were dropped.
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
    # A row cut short (a sweep killed while appending it) has missing cells (None, not
    # ""): its point is not done.
    kept = [r for r in rows if r["point"] in current
            and current[r["point"]][0] == r.get("scenario_hash")
            and None not in r and None not in r.values()]
    plain = [{**r, **{k: str(cell(v)) for k, v in current[r["point"]][1].items()},
              "quorum": "" if r.get("quorum") == "null" else r.get("quorum")} for r in kept]
    with open(csv_path, "rb") as f:  # a last row without its newline: the next would join it
        f.seek(-1, 2)
        ends_whole = f.read(1) == b"\n"
    if len(kept) == len(rows) and list(header) == fields and plain == kept and ends_whole:
        return 0
    with atomic.replacing(csv_path, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(plain)
    return len(rows) - len(kept)


def check_grid(path: str | Path,
               points: list[dict[str, Any]]) -> dict[str, tuple[str, dict, int]]:
    """Every grid point's scenario, checked against its network before any point runs
    (`neurosim.setup.check`: counts, quorums and list lengths against the layers,
    files, ...; not the quorum search nor a network's training, which the point's
    run does).

    Returns point id -> (scenario hash, point, cost), cost = trials x weights, what a
    point's run time grows with. A bad point is an InputError naming the scenario
    file, the key and the point's swept values.
    """
    from neurosim.setup import check

    built: dict[str, tuple] = {}  # points sharing a network and inputs build them once
    current = {}
    for p in points:
        try:
            scn = point_scenario(path, p)
            # Not trained here: the point's run trains its network (on its worker).
            net = check(scn, built, train=False).net
        except InputError as err:
            where = "" if err.source == str(path) else f" of {path}"
            raise InputError(err.source, err.key,
                             f"{err.message} (sweep point {describe(p)}{where})") from None
        current[point_id(p)] = scenario_hash(scn), p, scn.trials * sum(
            W.size for W in net.weights)
    return current


def run_sweep(path: str | Path, out_dir: Path, engine: str = "des", workers: int = 1,
              scheduler: str | None = None,
              on_row: Callable[[dict[str, Any]], None] | None = None,
              on_stale: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Run every point of the scenario's grid not yet in out_dir/sweep.csv.

    Every point is checked first (`check_grid`): a bad one stops the sweep before
    any point runs. A row counts as done only if it was run from the same resolved
    scenario (`scenario_hash`): after an edit of the base scenario or of a file it
    reads, the affected points are run again and their old rows dropped, as
    are rows of points no longer in the grid (`on_stale` gets how many).
    """
    scn = load_scenario(path)
    if not scn.sweep:
        raise InputError(str(path), "sweep", "no [sweep] table: nothing to sweep")
    points = grid(scn)
    for key in scn.sweep:  # every key must be a valid scenario key: check once, up front
        load_scenario(path, {key: scn.sweep[key][0], "sweep": {}})
    # Workers start (and import) while this process checks the grid.
    pool = _Workers(str(path), workers, scheduler, points[0]) \
        if workers > 1 or scheduler is not None else None
    try:
        current = check_grid(path, points)
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

            if pool is None:
                for p in todo:
                    keep(run_point(str(path), p, str(out_dir), engine))
            elif todo:
                # Largest points first: the last ones to finish are then short, so no
                # worker idles long at the end while another finishes a big point.
                todo.sort(key=lambda p: -current[point_id(p)][2])
                pool.run(todo, str(out_dir), engine, keep)
    finally:
        if pool is not None:
            pool.close()
    return rows


def _warm(path: str, point: dict[str, Any]) -> None:
    """On a dask worker, before its first point: import what a run needs and build a
    point's network and inputs (sklearn's datasets, ...), while the client checks
    the grid. Failures are the client's to report: ignored here."""
    try:
        import neurosim.runner  # noqa: F401
        from neurosim.setup import check

        check(point_scenario(path, point))
    except Exception:
        pass


def local_cluster(workers: int):
    """A dask LocalCluster of `workers` single-threaded processes fit for the trial loops.

    dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_ set, which turns off glibc's
    adaptive mmap threshold: every block-sized array is then mapped and unmapped afresh,
    and a run's trial loop took 20% longer (1.4x with two workers) on this workload. Its
    statistical profiler, which samples the running task's stack every 10 ms, took
    another 12%. The workers here run without either and keep dask's other settings
    (one BLAS thread each).
    """
    import dask
    from dask.distributed import LocalCluster

    # None unsets a variable the nanny would set (README: the same for a cluster).
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
                          "distributed.worker.profile.enabled": False}):
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                            dashboard_address=None)


class _Workers:
    """dask.distributed workers for a sweep: a LocalCluster of `workers` single-threaded
    processes, or the cluster at `scheduler`, connected in a background thread so that
    the workers start, import and warm up (`_warm`) while the client checks the grid."""

    def __init__(self, path: str, workers: int, scheduler: str | None,
                 first: dict[str, Any]) -> None:
        try:
            import dask.distributed  # noqa: F401
        except ImportError:
            raise InputError(path, "--scheduler" if scheduler else "--workers",
                             "needs dask.distributed: pip install 'neurosim[sweep]'") from None
        from concurrent.futures import ThreadPoolExecutor

        self.path, self.scheduler = path, scheduler
        self._thread = ThreadPoolExecutor(1)
        self._started = self._thread.submit(self._connect, workers, scheduler, first)

    def _connect(self, workers: int, scheduler: str | None, first: dict[str, Any]):
        from dask.distributed import Client

        cluster = None
        if scheduler:
            client = Client(scheduler)
        else:
            cluster = local_cluster(workers)
            client = Client(cluster)
        warm = [client.submit(_warm, self.path, first, workers=[w], pure=False)
                for w in client.scheduler_info()["workers"]]
        return client, cluster, warm

    def run(self, todo: list[dict[str, Any]], out_dir: str, engine: str, keep) -> None:
        """Run the points on the workers; `keep` gets each row as its point finishes."""
        from dask.distributed import as_completed

        try:
            client = self._started.result()[0]
        except (OSError, ValueError, TypeError) as err:  # no scheduler there, a bad address
            if self.scheduler is None:
                raise
            raise InputError(self.path, "--scheduler", f"cannot connect to a dask scheduler "
                             f"at {self.scheduler!r} ({type(err).__name__}: {err})") from None
        futures = [client.submit(run_point, self.path, p, out_dir, engine, pure=False)
                   for p in todo]
        for fut in as_completed(futures):
            keep(fut.result())

    def close(self) -> None:
        try:
            client, cluster, _ = self._started.result()
        except Exception:  # never started: nothing to close (the run raised already)
            return
        finally:
            self._thread.shutdown()
        client.close()
        if cluster is not None:
            cluster.close()
