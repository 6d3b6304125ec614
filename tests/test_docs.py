"""Shipped text refers only to what a clone of the repository has.

README.md, CHANGELOG.md, docs/, the package's source (docstrings, comments,
--help, plot labels), scenarios/, studies/ and benchmarks/ must not cite
developer pages that live outside the repository (../shared, SPEC.md,
INTERFACE.md) or their section numbers ("SPEC 4.1", "INTERFACE 3", "(4.2)"):
cite a page under docs/ or name the thing in words.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from neurosim.front.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent

OUTSIDE = [
    (re.compile(r"\.\./shared"), "a path outside the repository"),
    (re.compile(r"\bSPEC\.md\b|\bINTERFACE\.md\b|\bSTYLE\.md\b"), "a page outside the repository"),
    (re.compile(r"\bSPEC\s*\d"), "a section of a page outside the repository"),
    (re.compile(r"\bINTERFACE\s*\d"), "a section of a page outside the repository"),
    (re.compile(r"\bSPEC\b(?!IAL)"), "a page outside the repository"),
    # bare section numbers as the outside pages numbered them: "(4.2)", "4.1+4.3"
    (re.compile(r"(?<!\w)\(\s*[1-6]\.[1-9]\s*(?:\+\s*[1-6]\.[1-9]\s*)?\)"),
     "a bare section number"),
    (re.compile(r"\b[1-6]\.[1-9]\s*\+\s*[1-6]\.[1-9]\b"), "a bare section number"),
]

TEXT_SUFFIXES = {".md", ".py", ".toml", ".txt", ".cfg", ".cff", ".rst", ".csv", ""}


def shipped_files() -> list[Path]:
    files = [ROOT / name for name in ("README.md", "pyproject.toml", "CHANGELOG.md",
                                      "CITATION.cff")]
    for folder in ("docs", "neurosim", "scenarios", "studies", "benchmarks"):
        if not (ROOT / folder).is_dir():
            continue
        files += [p for p in sorted((ROOT / folder).rglob("*"))
                  if p.is_file() and p.suffix in TEXT_SUFFIXES and "__pycache__" not in p.parts]
    return [p for p in files if p.is_file()]


def outside_references(text: str) -> list[tuple[int, str, str]]:
    """(line number, what, the line) for every reference to something outside the repo."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for pattern, what in OUTSIDE:
            if pattern.search(line):
                found.append((number, what, line.strip()))
                break
    return found


def test_the_check_catches_what_it_should():
    bad = ["see ../shared/SPEC.md", "the bound of SPEC 4.1", "(INTERFACE 3)", "SPEC 3-4",
           "given-set bound (4.2)", "weight-aware (4.1+4.3)", "as the SPEC says"]
    assert all(outside_references(s) for s in bad)
    good = ["see docs/bounds.md", "version 0.1.0", "sizes (4, 3)", "the weight-aware bound",
            "alpha = 1.5", "python 3.11", "specific", "SPECIAL", "Pareto(1.5) delays"]
    assert not any(outside_references(s) for s in good)


def test_shipped_files_are_found():
    names = {p.relative_to(ROOT).as_posix() for p in shipped_files()}
    assert {"README.md", "docs/bounds.md", "neurosim/front/cli.py"} <= names
    assert any(n.startswith("scenarios/") for n in names)


@pytest.mark.parametrize("path", shipped_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_shipped_text_refers_outside_the_repository(path):
    found = outside_references(path.read_text(errors="replace"))
    assert not found, "\n".join(f"{path.relative_to(ROOT)}:{n}: {what}: {line}"
                                for n, what, line in found)


def test_help_refers_only_to_the_repository():
    parser = build_parser()
    texts = [parser.format_help()]
    for action in parser._subparsers._group_actions:  # every subcommand's --help
        texts += [sub.format_help() for sub in action.choices.values()]
    found = [f for t in texts for f in outside_references(t)]
    assert not found, found


def test_the_docs_link_to_pages_that_exist():
    for page in sorted((ROOT / "docs").glob("*.md")):
        for target in re.findall(r"\]\(([^)#]+\.md)", page.read_text()):
            assert (page.parent / target).is_file(), f"{page.name} links to {target}"


def _documented_keys(section: str) -> set[str]:
    """The backticked names in the first column of the table under `### section` of
    docs/formats.md."""
    text = (ROOT / "docs" / "formats.md").read_text()
    body = text.split(f"### {section}\n", 1)[1].split("\n#", 1)[0]
    keys = set()
    for line in body.splitlines():
        if line.startswith("| `"):
            keys |= set(re.findall(r"`([^`]+)`", line.split(" | ")[0]))
    return keys


def test_formats_lists_every_result_key(tmp_path):
    """docs/formats.md and a real run agree on summary.json keys and trials.csv columns."""
    import csv
    import json

    scn = tmp_path / "s.toml"
    scn.write_text('seed = 1\ntrials = 3\n[network]\nsizes = [3, 4, 2]\n'
                   '[failures]\ncrash = 1\n[firing]\nrule = "quorum"\nquorum = [3, 3]\n')
    from neurosim.front.cli import main

    assert main(["run", str(scn), "--engine", "fast", "--out", str(tmp_path / "out")]) == 0
    summary = set(json.loads((tmp_path / "out" / "summary.json").read_text()))
    documented = _documented_keys("summary.json")
    labels_only = {"accuracy", "fault_free_accuracy"}
    assert summary - documented == set()
    assert documented - summary == labels_only
    with open(tmp_path / "out" / "trials.csv", newline="") as f:
        columns = set(next(csv.reader(f)))
    documented = _documented_keys("trials.csv")
    layers = {c for c in columns if c.startswith("layer_latency_")}
    assert columns - layers == documented - {"layer_latency_1", "layer_latency_{L+1}"}
    assert layers == {"layer_latency_1", "layer_latency_2"}


def test_formats_describes_every_command():
    parser = build_parser()
    text = (ROOT / "docs" / "formats.md").read_text()
    for action in parser._subparsers._group_actions:
        for name in action.choices:
            assert f"`neurosim {name} " in text, f"docs/formats.md does not describe {name}"
