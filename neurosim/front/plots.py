"""Plots of a results folder (trials.csv + summary.json), drawn with matplotlib's Agg backend.

Reads only the result files, so `neurosim plot DIR` redraws any finished or
interrupted run.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from neurosim.data import strict_json


def pyplot():
    """matplotlib.pyplot on the Agg backend (no screen needed), imported only to draw."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path, dpi: int = 120) -> Path:
    """Write `fig` as a PNG and free it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def read_trials(out_dir: Path) -> dict[str, np.ndarray]:
    """trials.csv as columns of floats (empty cells are NaN).

    Read row by row into float arrays (8 bytes a cell), so a million-trial run
    is read without holding its rows as text.
    """
    from array import array

    nan = float("nan")
    with open(out_dir / "trials.csv", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return {}
        columns = [array("d") for _ in header]
        for row in reader:
            for column, cell in zip(columns, row):
                column.append(float(cell) if cell != "" else nan)
    if not columns[0]:
        return {}
    return {k: np.frombuffer(c, dtype=float) for k, c in zip(header, columns)}


def plot_latency_cdf(out_dir: Path, trials: dict, summary: dict) -> Path:
    plt = pyplot()
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
    return save_figure(fig, out_dir / "latency_cdf.png")


def plot_error_vs_bounds(out_dir: Path, trials: dict, summary: dict) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    t = trials["trial"]
    err = trials["error"]
    floor = 1e-17  # log scale: an exact zero error is drawn at the floor
    ax.scatter(t, np.maximum(err, floor), s=8, label="measured error", color="black", zorder=3)
    ax.scatter(t, trials["bound_given_set"], s=8, label="given-set bound (4.2)", color="C2")
    drawn = [np.maximum(err, floor), trials["bound_given_set"]]
    for key, label, color, ls in (("bound_weight_aware", "weight-aware (4.1+4.3)", "C1", "-"),
                                  ("bound_weight_aware_global_k", "weight-aware, global K",
                                   "C4", "-"),
                                  ("bound_paper", "paper Fep", "C3", "-"),
                                  ("certificate_epsilon", "epsilon", "C0", "--")):
        value = strict_json.number(summary.get(key))
        if np.isfinite(value) and value > 0:
            ax.axhline(value, color=color, ls=ls, label=f"{label} = {value:.3g}")
            drawn.append(np.array([value]))
        elif key != "certificate_epsilon" or summary.get(key) is not None:
            # inf (overflowed), undefined or 0: in the legend, not on a log axis.
            ax.plot([], [], color=color, ls=ls, label=f"{label} = {value:.3g} (not drawn)")
    values = np.concatenate([np.asarray(v, dtype=float).ravel() for v in drawn])
    # A log axis needs a positive finite value (all errors NaN: draw it linear, empty).
    ax.set_yscale("log" if np.any(np.isfinite(values) & (values > 0)) else "linear")
    ax.set_xlabel("trial")
    ax.set_ylabel("output error (max-norm)")
    ax.set_title(f"{summary['scenario']}: measured error vs bounds "
                 f"({summary['violations']} violations)")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3, which="both")
    return save_figure(fig, out_dir / "error_vs_bounds.png")


def drawn(plot: Callable[..., Path | list[Path]], *args) -> list[Path]:
    """The files `plot(*args)` writes, or none, with a warning on stderr, if
    matplotlib cannot draw its values (e.g. a log axis up to 1e308 overflows).

    The plots only show what trials.csv and summary.json hold, and those are
    written first: a figure that cannot be drawn must not turn a finished run
    into a crash.
    """
    try:
        out = plot(*args)
    except (ValueError, OverflowError, FloatingPointError) as err:
        pyplot().close("all")
        print(f"neurosim: warning: {plot.__name__} not drawn ({err})", file=sys.stderr)
        return []
    return out if isinstance(out, list) else [out]


def plot_results(out_dir: str | Path) -> list[Path]:
    """Draw every plot of a results folder; returns the files written."""
    out_dir = Path(out_dir)
    summary = strict_json.loads((out_dir / "summary.json").read_text())
    trials = read_trials(out_dir)
    if not trials:
        return []
    paths = drawn(plot_latency_cdf, out_dir, trials, summary) + \
        drawn(plot_error_vs_bounds, out_dir, trials, summary)
    if (out_dir / "trace_trial0.npz").is_file():
        trace = read_trace(out_dir / "trace_trial0.npz")
        paths += drawn(plot_timeline, out_dir, trace, summary) + \
            drawn(plot_network, out_dir, trace, summary)
    return paths


def read_trace(path: Path) -> dict[str, list[np.ndarray]]:
    """trace_trial0.npz as lists per layer: fire_time, crashed, byzantine (0..L+1), used, lost."""
    with np.load(path, allow_pickle=False) as data:
        layers = sum(1 for k in data.files if k.startswith("fire_time_"))
        trace = {k: [data[f"{k}_{l}"] for l in range(layers)]
                 for k in ("fire_time", "crashed", "byzantine")}
        trace.update({k: [data[f"{k}_{l}"] for l in range(1, layers)] for k in ("used", "lost")})
    return trace


def plot_timeline(out_dir: Path, trace: dict, summary: dict) -> Path:
    """One trial: when each neuron fired, per layer; crashed and never-fired neurons marked."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for l, t in enumerate(trace["fire_time"]):
        n = len(t)
        y = l + (np.arange(n) - (n - 1) / 2) / max(n, 1) * 0.8
        fired = np.isfinite(t)
        ax.scatter(t[fired], y[fired], s=6, color="C0", label="fired" if l == 0 else None)
        lost = ~fired & ~trace["crashed"][l]
        horizon_x = np.nanmax(np.where(np.isfinite(t), t, np.nan)) if fired.any() else 0.0
        for mask, color, name in ((trace["crashed"][l], "C3", "crashed"),
                                  (lost, "C7", "never fired (blocked)")):
            if mask.any():
                ax.scatter(np.full(mask.sum(), horizon_x), y[mask], marker="x", s=18,
                           color=color, label=name if l == 1 or name.startswith("never") else None)
        if trace["byzantine"][l].any():
            b = trace["byzantine"][l] & fired
            ax.scatter(t[b], y[b], s=14, marker="D", color="C1", label="Byzantine")
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles, strict=True))
    ax.legend(uniq.values(), uniq.keys(), fontsize=7, loc="lower right")
    ax.set_yticks(range(len(trace["fire_time"])),
                  ["inputs"] + [f"layer {l}" for l in range(1, len(trace["fire_time"]))])
    ax.set_xlabel("simulated time")
    ax.set_title(f"{summary['scenario']}: firing timeline of trial 0\n"
                 "(x at the right: crashed / never fired)", fontsize=10)
    ax.grid(alpha=0.3)
    return save_figure(fig, out_dir / "timeline_trial0.png")


def plot_network(out_dir: Path, trace: dict, summary: dict, max_neurons: int = 40) -> Path:
    """The network (networkx) in trial 0: crashed neurons red, unused synapses faint.

    Layers wider than `max_neurons` are drawn with their first `max_neurons` neurons.
    """
    import networkx as nx

    plt = pyplot()
    g = nx.DiGraph()
    pos = {}
    shown = [min(len(t), max_neurons) for t in trace["fire_time"]]
    for l, n in enumerate(shown):
        for i in range(n):
            g.add_node((l, i))
            pos[(l, i)] = (l, (i - (n - 1) / 2) / max(n, 1))
    used_edges, unused_edges = [], []
    for l in range(1, len(shown)):
        u = trace["used"][l - 1]
        for j in range(shown[l]):
            for i in range(shown[l - 1]):
                (used_edges if u[j, i] else unused_edges).append(((l - 1, i), (l, j)))
    colors = []
    for l, i in g.nodes:
        if trace["crashed"][l][i]:
            colors.append("C3")
        elif trace["byzantine"][l][i]:
            colors.append("C1")
        elif not np.isfinite(trace["fire_time"][l][i]):
            colors.append("C7")
        else:
            colors.append("C0")
    fig, ax = plt.subplots(figsize=(8, 6))
    nx.draw_networkx_edges(g, pos, edgelist=unused_edges, ax=ax, edge_color="C3", alpha=0.5,
                           style="dotted", arrows=False, width=0.5)
    nx.draw_networkx_edges(g, pos, edgelist=used_edges, ax=ax, edge_color="0.6", alpha=0.15,
                           arrows=False, width=0.3)
    nx.draw_networkx_nodes(g, pos, node_color=colors, node_size=25, ax=ax)
    ax.set_title(f"{summary['scenario']}, trial 0: crashed (red), Byzantine (orange), "
                 "never fired (grey); red dotted: synapses not used", fontsize=9)
    ax.axis("off")
    return save_figure(fig, out_dir / "network_trial0.png")
