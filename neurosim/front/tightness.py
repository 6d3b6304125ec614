"""The tightness study: per case, the worst error found, the exact or MILP bound, the
weight-aware bound and the paper's Fep, and the gap between the tightest bound and the
worst case found."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from neurosim.data import atomic
from neurosim.front.plots import pyplot, save_figure

FIELDS = ["case", "worst_error", "exact", "bound_milp", "bound_signed", "bound_weight_aware",
          "bound_paper", "bound_tightest", "gap", "gap_weight_aware", "elapsed_s",
          "failure_model", "method"]


def study_row(case: str, report: dict[str, Any]) -> dict[str, Any]:
    """One row of tightness.csv from an attack report."""
    worst = report["worst_error"]
    row = {k: report.get(k, "") for k in FIELDS}
    row["case"] = case
    row["bound_milp"] = "" if report.get("bound_milp") is None else report["bound_milp"]
    row["gap"] = "" if report["gap"] is None else report["gap"]
    row["gap_weight_aware"] = report["bound_weight_aware"] / worst if worst > 0 else ""
    return row


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    with atomic.replacing(path, newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)


def _num(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def plot_tightness(rows: list[dict[str, Any]], path: Path) -> Path:
    """Log-axis plot of worst found and the bounds per case, and the gaps beneath."""
    plt = pyplot()
    cases = [r["case"] for r in rows]
    x = np.arange(len(rows))
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(11, 7.5), sharex=True,
                                  gridspec_kw={"height_ratios": [2, 1]})
    series = [("bound_paper", "paper Fep", "s", "tab:red"),
              ("bound_weight_aware", "weight-aware bound", "^", "tab:orange"),
              ("bound_signed", "signed bound", "v", "tab:purple"),
              ("bound_milp", "MILP bound (relu: exact model; sigmoid: enclosure)", "D",
               "tab:green"),
              ("worst_error", "worst error found (replayable witness)", "o", "tab:blue")]
    for key, label, marker, color in series:
        y = np.array([_num(r.get(key)) for r in rows])
        if np.all(np.isnan(y)):
            continue
        ax.plot(x, y, marker, color=color, label=label, markersize=7,
                fillstyle="none" if key == "bound_milp" else "full")
    exact = np.array([str(r["exact"]) == "True" for r in rows])
    if exact.any():
        ax.plot(x[exact], [_num(rows[i]["worst_error"]) for i in np.flatnonzero(exact)], "*",
                color="black", markersize=11, label="proven exact")
    ax.set_yscale("log")
    ax.set_ylabel("output error (max-norm)")
    ax.grid(True, which="both", alpha=0.3)
    # Above the axes: inside, it hides points whatever corner it takes.
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    fig.suptitle("How tight are the bounds? Worst case found vs sound bounds")
    ax2.bar(x - 0.2, [_num(r["gap_weight_aware"]) for r in rows], 0.4, color="tab:orange",
            label="weight-aware / worst found")
    ax2.bar(x + 0.2, [_num(r["gap"]) for r in rows], 0.4, color="tab:green",
            label="tightest bound / worst found")
    ax2.axhline(1.0, color="black", lw=0.8)
    ax2.set_ylabel("gap")
    ax2.legend(fontsize=8)
    ax2.set_xticks(x)
    ax2.set_xticklabels(cases, rotation=40, ha="right", fontsize=8)
    return save_figure(fig, path)
