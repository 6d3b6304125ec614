"""Plots of a sweep folder (sweep.csv): how latency, error and bounds move with the grid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from neurosim.front.plots import drawn, log_floor, pyplot, remove_files, rule_color, say_empty
from neurosim.sweep import cell, describe, read_sweep

# The plots `plot_sweep` may write (which ones depends on the swept keys).
SWEEP_PLOTS = ("sweep.png", "pareto.png", "latency_vs_error.png", "latency_cdf_quorum.png",
               "liveness.png", "memory_cost.png", "random_failures.png", "robustness_cost.png")


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

    remove_files(out_dir, SWEEP_PLOTS)  # a rerun leaves no stale plot beside the new sweep.csv
    return (drawn(plot_grid, out_dir) + drawn(plot_boosting, out_dir)
            + drawn(plot_apps, out_dir))


MAX_SERIES = 6  # series per panel; the keys that would make more become panels (facets)
MAX_FACETS = 4  # panel rows when the firing rule alone is to tell series apart


def _facets(keys: list[str], values: dict[str, list]) -> tuple[list[str], list[str]]:
    """Split the non-x swept keys into series keys (one line each, at most MAX_SERIES per
    panel) and facet keys (one panel row per combination). When the firing rule is swept and
    the other keys make at most MAX_FACETS panels, the rule alone tells series apart (by its
    colour, as in every plot); the rule always stays a series key."""
    def distinct(k: str) -> int:
        return len({json.dumps(v) for v in values[k]})

    series, facets = list(keys), []
    others = [k for k in keys if k != "firing.rule"]
    if "firing.rule" in keys and others and \
            int(np.prod([distinct(k) for k in others])) <= MAX_FACETS:
        return ["firing.rule"], others  # the rule alone tells series apart: its colour
    while int(np.prod([distinct(k) for k in series])) > MAX_SERIES and \
            any(k != "firing.rule" for k in series):
        k = max((k for k in series if k != "firing.rule"), key=distinct)
        series.remove(k)
        facets.append(k)
    return series, facets


def _groups(rows: list[dict[str, Any]], keys: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Rows grouped by their values of `keys` ("k=v, ..."), in order of first appearance."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(describe({k: r[k] for k in keys}), []).append(r)
    return out


def plot_grid(out_dir: str | Path) -> list[Path]:
    """Latency (mean, p99) and error against the first swept key: sweep.png.

    Numeric keys are drawn as numbers (integer ticks for integer keys), others
    as categories without lines between them. One colour per series (per firing
    rule when the rule is what tells series apart, shared with every plot); at
    most MAX_SERIES series per panel, the other keys split into panel rows.
    Latency is on a log scale when it spans more than 50x; the error axis is
    logarithmic with 0 drawn on a marked floor.
    """
    out_dir = Path(out_dir)
    keys, rows = read_sweep(out_dir)
    if not rows or not keys:
        return []
    plt = pyplot()
    from matplotlib.lines import Line2D

    values = {k: [r[k] for r in rows] for k in keys}
    x_key = keys[0]
    series_keys, facet_keys = _facets(keys[1:], values)
    xs_all = list(dict.fromkeys(json.dumps(v) for v in values[x_key]))
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool)
                  for v in values[x_key])
    integer = numeric and all(isinstance(v, int) for v in values[x_key])
    category = {x: i for i, x in enumerate(xs_all)}
    floor = log_floor(np.array([_num(r[k]) for r in rows
                                for k in ("max_error", "bound_weight_aware")]))
    series_names = list(_groups(rows, series_keys))
    by_rule = series_keys == ["firing.rule"] or (not series_keys and x_key == "firing.rule")
    colors = {name: (rule_color(g[0]["firing.rule"], i) if by_rule
                     and series_keys else f"C{i % 10}")
              for i, (name, g) in enumerate(_groups(rows, series_keys).items())}
    facets = _groups(rows, facet_keys)
    legend_rows = (len(series_names) + 4) // 2 + 1
    fig, axes = plt.subplots(len(facets), 2, squeeze=False,
                             figsize=(11, 3.4 * len(facets) + 0.18 * legend_rows))
    for (facet, frows), (ax_lat, ax_err) in zip(facets.items(), axes):
        groups = _groups(frows, series_keys)
        n_blocked = sum(1 for r in frows if not np.isfinite(_num(r["max_error"])))
        for i, (name, rs) in enumerate(groups.items()):
            xs = [r[x_key] for r in rs]
            if numeric:
                order = np.argsort(xs, kind="stable")
                pos = np.array(xs, dtype=float)[order]
            else:  # categories: no line between them; series side by side
                order = np.arange(len(xs))
                shift = (i - (len(groups) - 1) / 2) * 0.08
                pos = np.array([category[json.dumps(x)] for x in xs]) + shift
            point_colors = ([rule_color(x) for x in np.array(xs, dtype=object)[order]]
                            if by_rule and not series_keys else None)
            for ax, key, fmt, zero_at_floor in ((ax_lat, "latency_mean", "o-", False),
                                                (ax_lat, "latency_p99", "s--", False),
                                                (ax_err, "max_error", "o-", True),
                                                (ax_err, "bound_weight_aware", "^:", True)):
                ys = np.array([_num(rs[j][key]) for j in order])
                if zero_at_floor:
                    ys = np.where(ys > 0, ys, np.where(np.isfinite(ys), floor, np.nan))
                if point_colors is not None:  # one series over the rules: rule colours
                    ax.scatter(pos, ys, color=point_colors, marker=fmt[0], zorder=3, s=30)
                else:
                    ax.plot(pos, ys, fmt if numeric else fmt[0], color=colors[name])
        for ax in (ax_lat, ax_err):
            ax.set_xlabel(x_key)
            ax.grid(alpha=0.3, which="both")
            if not numeric:
                ax.set_xticks(range(len(xs_all)), [str(cell(json.loads(x))) for x in xs_all])
                ax.set_xlim(-0.5, len(xs_all) - 0.5)
            elif integer:
                ax.xaxis.get_major_locator().set_params(integer=True)
            ax.set_title((facet or "") + (f"\n{n_blocked} point(s) blocked on every trial: "
                                          "no latency or error to draw" if n_blocked else ""),
                         fontsize=8)
        lat = [v for r in frows for v in (_num(r["latency_mean"]), _num(r["latency_p99"]))
               if v > 0]
        if not lat:
            say_empty(ax_lat, "no latency: every point blocked on every trial")
        if lat and max(lat) > 50 * min(lat):
            ax_lat.set_yscale("log")
        ax_lat.set_ylabel("output latency (simulated time)")
        ax_err.set_ylabel("output error (max-norm)")
        ax_err.set_yscale("log")
        ax_err.axhline(floor, color="0.6", ls=(0, (1, 3)), lw=1)
        ax_err.text(1.0, floor, " 0", transform=ax_err.get_yaxis_transform(), va="center",
                    fontsize=8, color="0.4")
    handles = [Line2D([], [], color=colors[n], lw=2, label=n or x_key) for n in series_names
               if series_keys or not by_rule]
    handles += [Line2D([], [], color="0.4", ls=ls, marker=m, label=label)
                for ls, m, label in (("-", "o", "latency mean / measured max error"),
                                     ("--", "s", "latency p99"),
                                     (":", "^", "weight-aware bound"),
                                     ((0, (1, 3)), "", f"0 (drawn at {floor:.2g})"))]
    fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=7, frameon=False)
    fig.suptitle(out_dir.name + (f"  (panels by {', '.join(facet_keys)})" if facet_keys else ""))
    bottom = 0.18 * legend_rows / (3.4 * len(facets) + 0.18 * legend_rows) + 0.02
    fig.tight_layout(rect=(0, bottom, 1, 1))
    path = out_dir / "sweep.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]
