"""The installed package: build the wheel, install it in a fresh virtual environment outside
the repository, and use it as a user would (`neurosim --version`, `neurosim examples`, `neurosim
run` on a copied example).

This is what a clone cannot show: that the wheel carries every module and the bundled examples,
and that its entry point, metadata and declared dependencies work on their own. About 30 s (the
fresh environment installs the dependencies); `pytest -m "not package"` leaves it out while
iterating. The build runs on a copy of the sources so that it never reads or leaves a stale
build/ folder in the working tree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
SCENARIOS = ROOT / "scenarios"
EXAMPLES = sorted(
    [p.name for p in SCENARIOS.glob("*.toml")]
    + [f"nets/{p.name}" for p in SCENARIOS.glob("nets/*.npz")]
    + [f"nets/{p.name}" for p in SCENARIOS.glob("nets/make_*.py")]
)
MODULES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "neurosim").rglob("*.py"))
# Left out of the copy the wheel is built from: what is not source (at the top of the clone
# only, so that a module named like one of these is still copied).
TOP_NOT_SOURCES = {".git", ".venv", "build", "dist", "results", "plots", "dask-worker-space",
                   ".hypothesis", ".pytest_cache", ".ruff_cache"}


def not_sources(folder: str, names: list[str]) -> set[str]:
    top = Path(folder) == ROOT
    return {n for n in names if n == "__pycache__" or n.endswith(".egg-info")
            or (top and n in TOP_NOT_SOURCES)}

pytestmark = pytest.mark.package


def run(argv: list[str | Path], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, (f"{' '.join(map(str, argv))} exited {done.returncode}\n"
                                  f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """The wheel, and a fresh venv (outside the repository) with it and its dependencies."""
    tmp = tmp_path_factory.mktemp("package")
    # a clean environment: nothing of this suite's venv or the clone leaks in
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONSTARTUP")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=not_sources)
    run([sys.executable, "-m", "pip", "wheel", src, "--no-deps", "-q", "-w", tmp / "wheel"],
        tmp, env)
    wheels = list((tmp / "wheel").glob("*.whl"))
    assert len(wheels) == 1, wheels
    # This suite's pip installs into the new venv (--python): no pip of its own to set up.
    # --no-compile: byte-compiling scipy, scikit-learn and matplotlib would be most of the time.
    run([sys.executable, "-m", "venv", "--without-pip", tmp / "venv"], tmp, env)
    venv_bin = tmp / "venv" / "bin"
    run([sys.executable, "-m", "pip", "--python", venv_bin / "python", "install", "-q",
         "--no-compile", wheels[0]], tmp, env)
    return {"wheel": wheels[0], "bin": venv_bin, "tmp": tmp, "env": env}


def test_wheel_carries_every_module_the_examples_and_the_licence(installed):
    with zipfile.ZipFile(installed["wheel"]) as whl:
        names = set(whl.namelist())
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = whl.read(f"{dist_info}/METADATA").decode()
    assert EXAMPLES and MODULES  # the globs found the sources
    missing_modules = [m for m in MODULES if m not in names]
    assert not missing_modules, f"not in the wheel (add the subpackage to pyproject's " \
                                f"[tool.setuptools] packages): {missing_modules}"
    missing_examples = [e for e in EXAMPLES if f"neurosim/examples/{e}" not in names]
    assert not missing_examples, f"examples not in the wheel: {missing_examples}"
    assert f"{dist_info}/licenses/LICENSE" in names
    assert f"Name: {PROJECT['name']}\n" in metadata
    assert f"Version: {PROJECT['version']}\n" in metadata


def test_installed_command_copies_and_runs_an_example(installed):
    bin_, tmp, env = installed["bin"], installed["tmp"], installed["env"]
    work = tmp / "user"  # a folder of the user's, far from the clone
    work.mkdir()

    where = run([bin_ / "python", "-c", "import neurosim; print(neurosim.__file__)"], work, env)
    assert Path(where.stdout.strip()).is_relative_to(tmp / "venv"), where.stdout

    version = run([bin_ / "neurosim", "--version"], work, env)
    assert version.stdout.strip() == f"neurosim {PROJECT['version']}"

    run([bin_ / "neurosim", "examples", "ex"], work, env)
    copied = sorted(p.relative_to(work / "ex").as_posix()
                    for p in (work / "ex").rglob("*") if p.is_file())
    assert copied == EXAMPLES
    for rel in EXAMPLES:
        assert (work / "ex" / rel).read_bytes() == (SCENARIOS / rel).read_bytes(), rel

    # the relative network path nets/digits.npz resolves next to the copied scenario
    run([bin_ / "neurosim", "run", "ex/crash-vs-bound.toml", "--trials", "20", "--engine", "fast",
         "--out", "out"], work, env)
    out = work / "out"
    for name in ("trials.csv", "summary.json", "error_vs_bounds.png", "latency_cdf.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["version"] == PROJECT["version"]
    assert summary["scenario"] == "crash-vs-bound"
    assert summary["trials"] == 20 and summary["violations"] == 0
    assert len((out / "trials.csv").read_text().splitlines()) == 1 + 20
