"""Plots of a sweep folder (sweep.csv): how latency, error and bounds move with the grid."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from neurosim.front.plots import drawn, pyplot
from neurosim.sweep import read_sweep


def _num(v: str) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def plot_sweep(out_dir: str | Path) -> list[Path]:
    """Every plot of a sweep folder: sweep.png (`plot_grid`) and the boosting and
    application plots (`neurosim.front.boosting`, `neurosim.front.apps`) that the swept
    keys allow."""
    from neurosim.front.apps import plot_apps
    from neurosim.front.boosting import plot_boosting

    return (drawn(plot_grid, out_dir) + drawn(plot_boosting, out_dir)
            + drawn(plot_apps, out_dir))


def plot_grid(out_dir: str | Path) -> list[Path]:
    """Latency (mean, p99) and error against the first swept key, one line per other point.

    One colour per combination of the other keys (legend below the panels);
    the line style tells the quantity. Latency is on a log scale when it spans
    more than 50x; a zero error is drawn a decade below the smallest nonzero one.
    """
    out_dir = Path(out_dir)
    keys, rows = read_sweep(out_dir)
    if not rows or not keys:
        return []
    plt = pyplot()
    from matplotlib.lines import Line2D

    x_key, group_keys = keys[0], keys[1:]
    groups: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        groups.setdefault(", ".join(f"{k}={json.loads(r[k])}" for k in group_keys), []).append(r)
    errors = [_num(r["max_error"]) for r in rows]
    floor = min([e for e in errors if e > 0] or [1.0]) / 10
    cmap = plt.get_cmap("tab10" if len(groups) <= 10 else "tab20")
    rows_of_legend = (len(groups) + 1) // 2 + 1
    fig, (ax_lat, ax_err) = plt.subplots(1, 2, figsize=(11, 4 + 0.16 * rows_of_legend))
    handles = []
    for i, (name, rs) in enumerate(sorted(groups.items())):
        xs = [json.loads(r[x_key]) for r in rs]
        labels = [str(x) for x in xs]
        numeric = all(isinstance(x, (int, float)) for x in xs)
        order = np.argsort(xs) if numeric else np.arange(len(xs))
        pos = np.array(xs, dtype=float)[order] if numeric else np.arange(len(xs))
        color = cmap(i % cmap.N)
        ax_lat.plot(pos, [_num(rs[j]["latency_mean"]) for j in order], "o-", color=color)
        ax_lat.plot(pos, [_num(rs[j]["latency_p99"]) for j in order], "s--", color=color)
        ax_err.plot(pos, [max(_num(rs[j]["max_error"]), floor) for j in order], "o-",
                    color=color)
        ax_err.plot(pos, [_num(rs[j]["bound_weight_aware"]) for j in order], "^:", color=color)
        handles.append(Line2D([], [], color=color, lw=2, label=name or "all"))
        if not numeric:
            for ax in (ax_lat, ax_err):
                ax.set_xticks(pos, [labels[j] for j in order])
    handles += [Line2D([], [], color="0.4", ls=ls, marker=m, label=label)
                for ls, m, label in (("-", "o", "latency mean / measured max error"),
                                     ("--", "s", "latency p99"),
                                     (":", "^", "weight-aware bound"))]
    lat = [v for r in rows for v in (_num(r["latency_mean"]), _num(r["latency_p99"]))
           if v > 0]
    if lat and max(lat) > 50 * min(lat):
        ax_lat.set_yscale("log")
    ax_lat.set_xlabel(x_key)
    ax_lat.set_ylabel("output latency (simulated time)")
    ax_err.set_xlabel(x_key)
    ax_err.set_ylabel(f"output error (max-norm; 0 drawn at {floor:.2g})")
    ax_err.set_yscale("log")
    for ax in (ax_lat, ax_err):
        ax.grid(alpha=0.3, which="both")
    fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=7, frameon=False)
    fig.suptitle(out_dir.name)
    fig.tight_layout(rect=(0, 0.16 * rows_of_legend / (4 + 0.16 * rows_of_legend) + 0.02,
                           1, 1))
    path = out_dir / "sweep.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]
