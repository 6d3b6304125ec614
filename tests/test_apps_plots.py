"""The application studies end to end on tiny grids: `neurosim sweep` runs them with no
violation and draws their figures (memory cost, random failures, robustness vs cost)."""

from __future__ import annotations

import csv
import json

import pytest

from neurosim.front.cli import main

TIMEOUT = """
[latency]
model = "constant"
[firing]
rule = "timeout"
timeout = 0.5
"""

GRIDS = {
    "memory_cost.png": """
seed = 3
trials = 12
[network]
sizes = [5, 6, 4, 3]
[failures]
bits = 4
[firing]
epsilon = 0.5
[sweep]
"failures.bits" = [2, 4, 8]
""",
    "random_failures.png": """
seed = 3
trials = 12
[network]
sizes = [5, 9, 8, 3]
[failures]
crash_probability = 0.1
""" + TIMEOUT + """
[sweep]
"failures.crash_probability" = [0.0, 0.1, 0.2]
""",
    "robustness_cost.png": """
seed = 3
trials = 12
[network]
train = { hidden = [4], max_iter = 5 }
[inputs]
kind = "dataset"
[failures]
crash = "tolerated"
""" + TIMEOUT + """
epsilon = 3.0
[sweep]
"network.train.hidden" = [[4], [8]]
"network.train.alpha" = [1e-4, 1.0]
""",
}


@pytest.mark.parametrize("figure", sorted(GRIDS))
def test_study_sweep_and_figure(tmp_path, capsys, figure):
    path = tmp_path / "study.toml"
    path.write_text(GRIDS[figure])
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--engine", "fast", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert (out / figure).is_file() and (out / figure).stat().st_size > 10_000
    with open(out / "sweep.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and all(r["violations"] == "0" for r in rows)
    summaries = [json.loads((out / "points" / r["point"] / "summary.json").read_text())
                 for r in rows]
    if figure == "memory_cost.png":
        saved = [s["memory_saved_vs_float32"] for s in summaries]
        assert saved == sorted(saved, reverse=True)  # more bits, less saved
        assert len({s["certified_bits_weight_aware"] for s in summaries}) == 1
    if figure == "random_failures.png":
        bounds = [s["expected_error_bound"] for s in summaries]
        assert bounds[0] == 0.0 and bounds == sorted(bounds)  # grows with p
    if figure == "robustness_cost.png":
        assert all(s["training_epochs"] == 5 and s["tolerated_crashes"] is not None
                   for s in summaries)
