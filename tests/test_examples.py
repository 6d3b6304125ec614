"""`neurosim examples DIR` and `neurosim --version` from the installation this suite runs in
(the editable install): the copies are the repository's scenarios/ files byte for byte, a
copied scenario runs from anywhere, and the version is the one pyproject.toml declares.

The built wheel is checked the same way, installed in a fresh environment, in test_package.py.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

import neurosim
from neurosim.data.scenario import load_scenario
from neurosim.front.cli import main

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
# Read straight from the repository, not through the package: what the copy must equal.
EXPECTED = sorted(
    [p.name for p in SCENARIOS.glob("*.toml")]
    + [f"nets/{p.name}" for p in SCENARIOS.glob("nets/*.npz")]
    + [f"nets/{p.name}" for p in SCENARIOS.glob("nets/make_*.py")]
)
DECLARED_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def tree(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_expected_examples_are_there():
    # guards the comparison below against an empty glob (a moved folder)
    assert "crash-vs-bound.toml" in EXPECTED and "nets/digits.npz" in EXPECTED
    assert len(EXPECTED) >= 10


def test_examples_copies_every_bundled_file_byte_for_byte(tmp_path, capsys):
    dest = tmp_path / "new" / "ex"  # parents are created
    assert main(["examples", str(dest)]) == 0
    assert tree(dest) == EXPECTED
    for rel in EXPECTED:
        assert (dest / rel).read_bytes() == (SCENARIOS / rel).read_bytes(), rel
    assert "crash-vs-bound.toml" in capsys.readouterr().out


def test_examples_into_an_existing_empty_folder(tmp_path):
    assert main(["examples", str(tmp_path)]) == 0
    assert tree(tmp_path) == EXPECTED


def test_copied_scenarios_find_their_networks(tmp_path):
    main(["examples", str(tmp_path / "ex")])
    files = 0
    for toml in sorted((tmp_path / "ex").glob("*.toml")):
        scn = load_scenario(toml)
        if scn.network.file is not None:
            assert scn.path(scn.network.file).is_file(), toml.name
            assert scn.path(scn.network.file).is_relative_to(tmp_path / "ex")
            files += 1
    assert files >= 4  # crash-vs-bound, synapse-loss, tightness, ... read a bundled net


def test_copied_scenario_runs_from_another_folder(tmp_path, monkeypatch, capsys):
    main(["examples", str(tmp_path / "ex")])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code = main(["run", "../ex/crash-vs-bound.toml", "--trials", "5", "--engine", "fast",
                 "--out", "out"])
    assert code == 0
    summary = json.loads((elsewhere / "out" / "summary.json").read_text())
    assert summary["trials"] == 5
    assert summary["version"] == DECLARED_VERSION
    assert len((elsewhere / "out" / "trials.csv").read_text().splitlines()) == 1 + 5


@pytest.mark.parametrize("occupied", ["file_inside", "dest_is_a_file"])
def test_examples_refuses_an_occupied_destination(tmp_path, capsys, occupied):
    dest = tmp_path / "ex"
    if occupied == "file_inside":
        dest.mkdir()
        (dest / "notes.txt").write_text("mine")
    else:
        dest.write_text("mine")
    assert main(["examples", str(dest)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith(f"neurosim: error: {dest}: ")
    assert "Traceback" not in err
    assert "--force" in err or "not a folder" in err
    # nothing was written
    assert (tree(dest) == ["notes.txt"]) if dest.is_dir() else dest.read_text() == "mine"


def test_examples_force_overwrites_examples_and_keeps_other_files(tmp_path):
    dest = tmp_path / "ex"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    (dest / "crash-vs-bound.toml").write_text("edited")
    assert main(["examples", str(dest), "--force"]) == 0
    assert tree(dest) == sorted(EXPECTED + ["notes.txt"])
    assert (dest / "notes.txt").read_text() == "mine"
    assert (dest / "crash-vs-bound.toml").read_bytes() == \
        (SCENARIOS / "crash-vs-bound.toml").read_bytes()


def test_version_is_the_declared_one(capsys):
    assert neurosim.__version__ == DECLARED_VERSION
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"neurosim {DECLARED_VERSION}"


def test_citation_and_changelog_follow_the_declared_version():
    # CITATION.cff repeats the version (a citation names what was used): it must not drift
    cff = (ROOT / "CITATION.cff").read_text()
    versions = [ln.split(":", 1)[1].strip() for ln in cff.splitlines()
                if ln.startswith("version:")]
    assert versions == [DECLARED_VERSION]
    assert 'title: "When Neurons Fail"' in cff and "Guerraoui" in cff
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"\n## {DECLARED_VERSION}" in changelog
