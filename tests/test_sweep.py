"""`neurosim sweep`: the grid, one row per point, resumable after an interruption."""

import csv
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
    assert points == {(c, m) for c in ("0", "1") for m in ('"exponential"', '"pareto"')}
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
