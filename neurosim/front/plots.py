"""Plots of a results folder (trials.csv + summary.json), drawn with matplotlib's Agg backend.

Reads only the result files, so `neurosim plot DIR` redraws any finished or
interrupted run.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def read_trials(out_dir: Path) -> dict[str, np.ndarray]:
    """trials.csv as columns of floats (empty cells are NaN)."""
    with open(out_dir / "trials.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    return {k: np.array([float(r[k]) if r[k] != "" else np.nan for r in rows])
            for k in rows[0]}


def plot_latency_cdf(out_dir: Path, trials: dict, summary: dict) -> Path:
    plt = _pyplot()
    lat = np.sort(trials["latency"][np.isfinite(trials["latency"])])
    fig, ax = plt.subplots(figsize=(6, 4))
    if len(lat):
        ax.step(lat, np.arange(1, len(lat) + 1) / len(trials["latency"]), where="post")
    blocked = summary.get("blocked_trials", 0)
    ax.set_xlabel("output latency (simulated time)")
    ax.set_ylabel("fraction of trials completed")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{summary['scenario']}: latency CDF ({blocked} of {summary['trials']} blocked)")
    ax.grid(alpha=0.3)
    path = out_dir / "latency_cdf.png"
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_error_vs_bounds(out_dir: Path, trials: dict, summary: dict) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    t = trials["trial"]
    err = trials["error"]
    floor = 1e-17  # log scale: an exact zero error is drawn at the floor
    ax.scatter(t, np.maximum(err, floor), s=8, label="measured error", color="black", zorder=3)
    ax.scatter(t, trials["bound_given_set"], s=8, label="given-set bound (4.2)", color="C2")
    for key, label, color in (("bound_weight_aware", "weight-aware (4.1+4.3)", "C1"),
                              ("bound_weight_aware_global_k", "weight-aware, global K", "C4"),
                              ("bound_paper", "paper Fep", "C3")):
        ax.axhline(summary[key], color=color, label=f"{label} = {summary[key]:.3g}")
    if summary.get("certificate_epsilon"):
        ax.axhline(summary["certificate_epsilon"], color="C0", ls="--",
                   label=f"epsilon = {summary['certificate_epsilon']:.3g}")
    ax.set_yscale("log")
    ax.set_xlabel("trial")
    ax.set_ylabel("output error (max-norm)")
    ax.set_title(f"{summary['scenario']}: measured error vs bounds "
                 f"({summary['violations']} violations)")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3, which="both")
    path = out_dir / "error_vs_bounds.png"
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_results(out_dir: str | Path) -> list[Path]:
    """Draw every plot of a results folder; returns the files written."""
    out_dir = Path(out_dir)
    summary = json.loads((out_dir / "summary.json").read_text())
    trials = read_trials(out_dir)
    if not trials:
        return []
    return [plot_latency_cdf(out_dir, trials, summary),
            plot_error_vs_bounds(out_dir, trials, summary)]
