"""`neurosim sweep`: the grid, one row per point, resumable after an interruption."""

import csv
import json
from pathlib import Path

import pytest

import neurosim.sweep as sweep
from neurosim.front.cli import main

SCENARIO = """
name = "tiny-sweep"
seed = 4
trials = 6
[network]
sizes = [4, 5, 2]
[failures]
crash = 1
[firing]
rule = "quorum"
quorum = [4, 4]
[sweep]
"failures.crash" = [0, 1]
"latency.model" = ["exponential", "pareto"]
"""


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def scenario(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO)
    return path


def test_sweep_runs_every_point_once_and_resumes(scenario, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real = sweep.run_point
    calls = []

    def interrupted(*args):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(args[1])
        return real(*args)

    monkeypatch.setattr(sweep, "run_point", interrupted)
    assert main(["sweep", str(scenario), "--out", str(out), "--engine", "fast"]) == 130
    first = rows(out / "sweep.csv")
    assert len(first) == 2  # the two finished points were kept

    monkeypatch.setattr(sweep, "run_point", real)
    assert main(["sweep", str(scenario), "--out", str(out), "--engine", "fast"]) == 0
    done = rows(out / "sweep.csv")
    assert len(done) == 4
    assert len({r["point"] for r in done}) == 4
    assert done[:2] == first  # resumed: nothing run twice, nothing rewritten
    points = {(r["failures.crash"], r["latency.model"]) for r in done}
    assert points == {(c, m) for c in ("0", "1") for m in ("exponential", "pareto")}
    for r in done:
        assert (out / "points" / r["point"] / "trials.csv").is_file()
        assert r["violations"] == "0"

    assert main(["sweep", str(scenario), "--out", str(out)]) == 0  # all done: runs nothing
    assert len(rows(out / "sweep.csv")) == 4


def test_a_point_equals_the_same_run_alone(scenario, tmp_path):
    out = tmp_path / "out"
    assert main(["sweep", str(scenario), "--out", str(out), "--engine", "fast"]) == 0
    point = {"failures.crash": 1, "latency.model": "pareto"}
    pid = sweep.point_id(point)
    alone = tmp_path / "alone.toml"
    alone.write_text(SCENARIO.split("[sweep]")[0].replace(
        "[failures]", '[latency]\nmodel = "pareto"\n[failures]'))
    assert main(["run", str(alone), "--out", str(tmp_path / "alone"), "--engine", "fast"]) == 0
    assert (out / "points" / pid / "trials.csv").read_bytes() == \
        (tmp_path / "alone" / "trials.csv").read_bytes()


def test_a_bad_sweep_key_is_refused_before_running(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(SCENARIO.replace('"latency.model"', '"latency.modle"'))
    assert main(["sweep", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "latency.modle" in err[0] and "bad.toml" in err[0]
    assert not (tmp_path / "o" / "sweep.csv").exists()


def test_dask_workers_give_the_same_results(scenario, tmp_path):
    """Results do not depend on the number of workers: 2 dask workers vs one process."""
    serial, parallel = tmp_path / "serial", tmp_path / "dask"
    assert main(["sweep", str(scenario), "--out", str(serial), "--engine", "fast"]) == 0
    assert main(["sweep", str(scenario), "--out", str(parallel), "--engine", "fast",
                 "--workers", "2", "--quiet"]) == 0
    a = {r["point"]: r for r in rows(serial / "sweep.csv")}
    b = {r["point"]: r for r in rows(parallel / "sweep.csv")}
    assert a.keys() == b.keys() and len(a) == 4
    for pid in a:
        assert {k: v for k, v in a[pid].items() if k != "elapsed_s"} == \
            {k: v for k, v in b[pid].items() if k != "elapsed_s"}
        assert (serial / "points" / pid / "trials.csv").read_bytes() == \
            (parallel / "points" / pid / "trials.csv").read_bytes()


def test_local_workers_keep_glibcs_adaptive_mmap_threshold():
    """dask's nanny sets MALLOC_TRIM_THRESHOLD_ and its workers sample their tasks' stacks
    (both slow the trial loops); the sweep's own workers run without either and keep
    dask's one BLAS thread each."""
    import os

    from dask.distributed import Client

    def environ():
        import dask
        return (os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.environ.get("OPENBLAS_NUM_THREADS"),
                dask.config.get("distributed.worker.profile.enabled"))

    with sweep.local_cluster(1) as cluster, Client(cluster) as client:
        assert list(client.run(environ).values()) == [(None, "1", False)]


def test_points_are_not_drawn_unless_asked(scenario, tmp_path):
    """A sweep only simulates: no per-point plots, and the sweep module draws nothing
    (matplotlib is not even imported); `--point-plots` draws them from the front."""
    import ast
    import subprocess
    import sys

    tree = ast.parse(Path(sweep.__file__).read_text())
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [m for m in imported if m and m.startswith("neurosim.front")], imported
    out = tmp_path / "out"
    code = ("import sys; from pathlib import Path; from neurosim.sweep import run_sweep; "
            f"run_sweep({str(scenario)!r}, Path({str(out)!r}), engine='fast'); "
            "print('matplotlib' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"
    points = list((out / "points").iterdir())
    assert len(points) == 4 and not list((out / "points").rglob("*.png"))
    drawn = tmp_path / "drawn"
    assert main(["sweep", str(scenario), "--out", str(drawn), "--engine", "fast", "--quiet",
                 "--point-plots"]) == 0
    for point in (drawn / "points").iterdir():
        assert list(point.glob("*.png")), point
    # One point drawn later, from its folder.
    assert main(["plot", str(points[0])]) == 0
    assert list(points[0].glob("*.png"))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_scheduler_address_runs_on_a_real_cluster(scenario, tmp_path):
    """`--scheduler ADDR` against a dask scheduler and a worker started as separate
    processes on localhost (as on a cluster): the same rows and trials as one process."""
    import subprocess
    import sys

    from distributed import Client

    address = f"tcp://127.0.0.1:{_free_port()}"
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", address.rsplit(":", 1)[1], "--no-dashboard"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
         "--no-dashboard", "--local-directory", str(tmp_path / "worker")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(1, timeout=120)
        cluster, serial = tmp_path / "cluster", tmp_path / "serial"
        assert main(["sweep", str(scenario), "--out", str(cluster), "--engine", "fast",
                     "--scheduler", address, "--quiet"]) == 0
    finally:
        for proc in (worker, scheduler):
            proc.terminate()
            proc.wait(timeout=60)
    assert main(["sweep", str(scenario), "--out", str(serial), "--engine", "fast",
                 "--quiet"]) == 0
    a = {r["point"]: r for r in rows(serial / "sweep.csv")}
    b = {r["point"]: r for r in rows(cluster / "sweep.csv")}
    assert a.keys() == b.keys() and len(a) == 4
    for pid in a:
        assert {k: v for k, v in a[pid].items() if k != "elapsed_s"} == \
            {k: v for k, v in b[pid].items() if k != "elapsed_s"}
        assert (serial / "points" / pid / "trials.csv").read_bytes() == \
            (cluster / "points" / pid / "trials.csv").read_bytes()


RULES = SCENARIO.replace('"latency.model" = ["exponential", "pareto"]',
                         '"firing.rule" = ["wait-all", "quorum"]')


def test_sweep_csv_cells_are_plain_values(tmp_path, capsys):
    """Strings bare, numbers as numbers, lists as JSON, nothing as an empty cell, as a
    spreadsheet or the csv module reads them; and a rerun resumes from that file."""
    path = tmp_path / "rules.toml"
    path.write_text(RULES)
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--engine", "fast", "--quiet"]) == 0
    text = (out / "sweep.csv").read_text()
    assert '"wait-all"' not in text and '"""' not in text
    done = rows(out / "sweep.csv")
    assert sorted((r["firing.rule"], r["failures.crash"]) for r in done) == \
        [("quorum", "0"), ("quorum", "1"), ("wait-all", "0"), ("wait-all", "1")]
    for r in done:
        assert int(r["trials"]) == 6 and float(r["bound_weight_aware"]) >= 0
        if (r["firing.rule"], r["failures.crash"]) == ("wait-all", "1"):
            # Every trial waits for a crashed neuron: no latency (NaN), an empty cell.
            assert r["blocked_trials"] == "6" and r["latency_mean"] == ""
        else:
            assert float(r["latency_mean"]) > 0
        # The quorum in force: none for wait-all (an empty cell), a JSON list otherwise.
        assert r["quorum"] == ("[4, 4]" if r["firing.rule"] == "quorum" else "")
    # The cells read back as the grid's typed values (the folder names are their hash).
    keys, typed = sweep.read_sweep(out)
    assert keys == ["failures.crash", "firing.rule"]
    assert {(r["failures.crash"], r["firing.rule"]) for r in typed} == \
        {(c, rule) for c in (0, 1) for rule in ("wait-all", "quorum")}
    assert all(type(r["failures.crash"]) is int for r in typed)

    capsys.readouterr()
    assert main(["sweep", str(path), "--out", str(out), "--engine", "fast", "--quiet"]) == 0
    assert "ran 0 of 4 points" in capsys.readouterr().out
    assert (out / "sweep.csv").read_text() == text


def test_a_cell_reads_back_as_the_grid_typed_it():
    """The text of a cell does not say whether "7" was a string or a number; the
    row's point id (the hash of the typed values) does."""
    point = {"name": "7", "failures.crash": 1, "latency.sigma": 1.0, "firing.quorum": [4, 4],
             "latency.model": "pareto", "flag": True}
    row = {"point": sweep.point_id(point), **{k: str(sweep.cell(v)) for k, v in point.items()}}
    assert row["name"] == "7" and row["latency.sigma"] == "1.0" and row["flag"] == "true"
    assert row["firing.quorum"] == "[4, 4]" and row["latency.model"] == "pareto"
    back = sweep.point_values(row, list(point))
    assert json.dumps(back) == json.dumps(point)  # the types too: "7" not 7, 1.0 not 1
    # A row of a sweep.csv written before cells were plain (JSON: '"pareto"').
    old = {"point": row["point"], **{k: json.dumps(v) for k, v in point.items()}}
    assert json.dumps(sweep.point_values(old, list(point))) == json.dumps(point)
    assert sweep.cell(float("nan")) == "" and sweep.cell(None) == ""
    assert str(sweep.cell(float("inf"))) == "inf"  # as trials.csv writes it


def test_an_old_json_sweep_csv_is_resumed_and_rewritten_plain(scenario, tmp_path,
                                                              monkeypatch):
    """A sweep.csv whose swept cells are JSON ('"pareto"', quorum 'null'), as written
    before cells were plain: its points are not run again, its rows are rewritten
    plain, and the plots read it."""
    out = tmp_path / "out"
    assert main(["sweep", str(scenario), "--out", str(out), "--engine", "fast",
                 "--quiet"]) == 0
    plain = (out / "sweep.csv").read_text()
    old = rows(out / "sweep.csv")
    for r in old:
        r["latency.model"] = json.dumps(r["latency.model"])
        r["quorum"] = "null" if r["quorum"] == "" else r["quorum"]
    with open(out / "sweep.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(old[0]))
        writer.writeheader()
        writer.writerows(old)
    assert '"""pareto"""' in (out / "sweep.csv").read_text()
    assert main(["plot", str(out)]) == 0  # the front reads the old file

    def never(*args):
        raise AssertionError("a finished point ran again")

    monkeypatch.setattr(sweep, "run_point", never)
    assert main(["sweep", str(scenario), "--out", str(out), "--quiet"]) == 0
    assert (out / "sweep.csv").read_text() == plain


BAD_GRIDS = {
    "crash": ('"failures.crash" = [1, 9]', "failures.crash", "failures.crash=9",
              "9 in layer 1 but the layer has only 5"),
    "crash-list": ('"failures.crash" = [1, [1, 1]]', "failures.crash", "failures.crash=[1, 1]",
                   "list of 1 values"),
    "quorum": ('"firing.quorum" = [[4, 4], [4, 6]]', "firing.quorum", "firing.quorum=[4, 6]",
               "6 for layer 2 but it has only 5 senders"),
    "quorum-list": ('"firing.quorum" = [4, [4, 4, 4]]', "firing.quorum",
                    "firing.quorum=[4, 4, 4]", "expected one value or 2"),
}


@pytest.mark.parametrize("name", sorted(BAD_GRIDS))
def test_a_bad_grid_point_is_refused_before_any_point_runs(tmp_path, capsys, monkeypatch,
                                                           name):
    """Every point is checked against the network first: a bad one (here the last)
    stops the sweep with one line naming the file, the key and the point, before the
    good points run and without a row written."""
    grid_line, key, point, what = BAD_GRIDS[name]
    path = tmp_path / "bad.toml"
    path.write_text(SCENARIO.replace('"failures.crash" = [0, 1]', grid_line))

    def never(*args):
        raise AssertionError("a point ran before the grid was checked")

    monkeypatch.setattr(sweep, "run_point", never)
    out = tmp_path / "o"
    assert main(["sweep", str(path), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in captured.err
    assert f"{path}: {key}: " in err[0], err
    assert point in err[0] and what in err[0], err
    assert not (out / "sweep.csv").exists() and not (out / "points").exists()


def test_a_network_to_train_is_checked_by_its_shape_untrained(tmp_path, capsys, monkeypatch):
    """The grid check does not train: a network to train is checked by its shape (the
    stand-in has the trained network's sizes, activations and input box), and a
    crash count larger than a trained layer is still refused up front."""
    from neurosim.data.scenario import TrainSpec
    from neurosim.data.training import train_network, untrained_network

    spec = TrainSpec(hidden=[6, 3], activation="relu", max_iter=5)
    trained, shape = train_network(spec)[0], untrained_network(spec)
    assert (trained.sizes, trained.activations) == (shape.sizes, shape.activations)
    assert (trained.input_low == shape.input_low).all()
    assert (trained.input_high == shape.input_high).all()

    import neurosim.data.build as build

    def no_training(*args, **kwargs):
        raise AssertionError("the grid check trained a network")

    monkeypatch.setattr(build, "train_network", no_training)
    monkeypatch.setattr(sweep, "run_point", no_training)
    path = tmp_path / "train.toml"
    path.write_text('seed = 1\n[network.train]\nmax_iter = 5\n[inputs]\nkind = "dataset"\n'
                    '[failures]\ncrash = [0, 4]\n'
                    '[sweep]\n"network.train.hidden" = [[8, 4], [8, 3]]\n')
    assert main(["sweep", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "failures.crash" in err[0], err
    assert "network.train.hidden=[8, 3]" in err[0] and "only 3" in err[0], err
