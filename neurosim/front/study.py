"""Plots of a sweep folder (sweep.csv): how latency, error and bounds move with the grid."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from neurosim.front.plots import _pyplot
from neurosim.sweep import ROW_KEYS


def read_sweep(out_dir: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The swept keys and the rows of sweep.csv."""
    with open(out_dir / "sweep.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        keys = [k for k in reader.fieldnames or [] if k != "point" and k not in ROW_KEYS]
    return keys, rows


def _num(v: str) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def plot_sweep(out_dir: str | Path) -> list[Path]:
    """Latency (mean, p99) and error against the first swept key, one line per other point."""
    out_dir = Path(out_dir)
    keys, rows = read_sweep(out_dir)
    if not rows or not keys:
        return []
    plt = _pyplot()
    x_key, group_keys = keys[0], keys[1:]
    groups: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        groups.setdefault(", ".join(f"{k}={json.loads(r[k])}" for k in group_keys), []).append(r)
    fig, (ax_lat, ax_err) = plt.subplots(1, 2, figsize=(11, 4))
    for i, (name, rs) in enumerate(sorted(groups.items())):
        xs = [json.loads(r[x_key]) for r in rs]
        labels = [str(x) for x in xs]
        numeric = all(isinstance(x, (int, float)) for x in xs)
        order = np.argsort(xs) if numeric else np.arange(len(xs))
        pos = np.array(xs, dtype=float)[order] if numeric else np.arange(len(xs))
        color = f"C{i % 10}"
        ax_lat.plot(pos, [_num(rs[j]["latency_mean"]) for j in order], "o-", color=color,
                    label=f"{name or 'all'} mean")
        ax_lat.plot(pos, [_num(rs[j]["latency_p99"]) for j in order], "s--", color=color,
                    label=f"{name or 'all'} p99")
        ax_err.plot(pos, [max(_num(rs[j]["max_error"]), 1e-17) for j in order], "o-",
                    color=color, label=f"{name or 'all'} measured max")
        ax_err.plot(pos, [_num(rs[j]["bound_weight_aware"]) for j in order], "^:", color=color,
                    label=f"{name or 'all'} weight-aware bound")
        if not numeric:
            for ax in (ax_lat, ax_err):
                ax.set_xticks(pos, [labels[j] for j in order])
    ax_lat.set_xlabel(x_key)
    ax_lat.set_ylabel("output latency (simulated time)")
    ax_err.set_xlabel(x_key)
    ax_err.set_ylabel("output error (max-norm)")
    ax_err.set_yscale("log")
    for ax in (ax_lat, ax_err):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.suptitle(out_dir.name)
    fig.tight_layout()
    path = out_dir / "sweep.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]
