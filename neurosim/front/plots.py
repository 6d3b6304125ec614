"""Plots of a results folder (trials.csv + summary.json), drawn with matplotlib's Agg backend.

Reads only the result files, so `neurosim plot DIR` redraws any finished or
interrupted run. Every plot says in words what it shows (docs/formats.md
lists the files, docs/bounds.md the bounds drawn).
"""

from __future__ import annotations

import csv
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np

from neurosim.data import strict_json
from neurosim.errors import InputError

# The plots `plot_results` writes; a rerun removes them first, so no stale one survives.
RUN_PLOTS = ("latency_cdf.png", "error_vs_bounds.png", "timeline_trial0.png",
             "network_trial0.png")

# One colour per firing rule, shared by every plot that tells rules apart.
RULE_COLORS = {"wait-all": "#1f77b4", "quorum": "#2ca02c", "timeout": "#ff7f0e",
               "quorum-or-timeout": "#9467bd"}

# Neuron states, shared by the timeline and the network plots.
STATE_COLORS = {"fired": "#1f77b4", "crashed": "#d62728", "Byzantine": "#ff7f0e",
                "never fired": "#7f7f7f"}


def rule_color(rule: object, fallback: int = 0) -> str:
    """The colour of a firing rule (a matplotlib cycle colour for anything else)."""
    return RULE_COLORS.get(str(rule), f"C{(fallback + 5) % 10}")


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


def remove_files(out_dir: str | Path, names: tuple[str, ...] = RUN_PLOTS) -> None:
    """Delete the named files of `out_dir` if present (a rerun's stale plots)."""
    if not Path(out_dir).is_dir():
        return  # nothing from a previous run; a bad path is for the writer to report
    for name in names:
        (Path(out_dir) / name).unlink(missing_ok=True)


def say_empty(ax, text: str) -> None:
    """Write in an empty panel why it is empty (instead of bare axes)."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=9,
            color="0.3", wrap=True)


def log_floor(values: np.ndarray) -> float:
    """Where a log axis draws 0: a decade below the smallest positive finite value."""
    v = np.asarray(values, dtype=float)
    positive = v[np.isfinite(v) & (v > 0)]
    if not len(positive):
        return 1e-17
    # A denormal smallest value (epsilon = 5e-324): a tenth of it is 0, no log floor.
    smallest = float(positive.min())
    return smallest / 10 if smallest / 10 > 0 else smallest


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
    blocked = summary.get("blocked_trials", 0)
    if len(lat):
        ax.step(lat, np.arange(1, len(lat) + 1) / len(trials["latency"]), where="post")
    else:
        ax.text(0.5, 0.5, "every trial blocked:\nno output, so no latency", ha="center",
                va="center", transform=ax.transAxes, fontsize=11, color="0.3")
    ax.set_xlabel("output latency (simulated time)")
    ax.set_ylabel("fraction of trials completed")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{summary['scenario']}: latency CDF ({blocked} of {summary['trials']} blocked)")
    ax.grid(alpha=0.3)
    return save_figure(fig, out_dir / "latency_cdf.png")


def _bound_lines(summary: dict) -> list[tuple[str, float, str, str]]:
    """The worst-case bounds to draw as (label, value, colour, line style); equal values
    share one line and one legend entry ("weight-aware, local slopes = global K")."""
    bounds = [("signed bound", summary.get("bound_signed"), "C5"),
              ("weight-aware bound, local slopes", summary.get("bound_weight_aware"), "C1"),
              ("global K", summary.get("bound_weight_aware_global_k"), "C4"),
              ("paper's Fep", summary.get("bound_paper"), "C3")]
    merged: list[list] = []
    for label, value, color in bounds:
        value = strict_json.number(value)
        if np.isnan(value):  # undefined: nothing to say
            continue
        for m in merged:
            if np.isclose(m[1], value, rtol=1e-9, atol=0.0):
                m[0] += f" = {label}"
                break
        else:
            merged.append([label if label != "global K" else "weight-aware bound, global K",
                           float(value), color])
    styles = ["-", "--", "-.", ":"]
    return [("\n".join(textwrap.wrap(f"{label}: {value:.3g}", 44)), value, color, styles[i % 4])
            for i, (label, value, color) in enumerate(merged)]


def legend_outside(ax, **kw) -> None:
    """The legend right of the axes, without entries that drew nothing."""
    handles, labels = ax.get_legend_handles_labels()
    keep = {}
    for h, lab in zip(handles, labels):
        offsets = getattr(h, "get_offsets", None)
        if offsets is None or len(offsets()):
            keep.setdefault(lab, h)
    ax.legend(keep.values(), keep.keys(), fontsize=7, loc="upper left",
              bbox_to_anchor=(1.01, 1.0), frameon=False, **kw)


def plot_error_vs_bounds(out_dir: Path, trials: dict, summary: dict) -> Path:
    """Each trial's measured error and given-set bound against the worst-case bounds.

    Blocked trials have no output and so no error: they are marked on the
    axis, without a given-set bound. Zeros are drawn at a marked floor (log axis).
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9.5, 4.2))
    t, err, given = trials["trial"], trials["error"], trials["bound_given_set"]
    blocked = trials.get("blocked", np.zeros_like(t)) == 1
    done = ~blocked
    lines = _bound_lines(summary)
    eps = summary.get("certificate_epsilon")
    signed_values = trials.get("bound_given_set_signed", np.array([]))
    floor = log_floor(np.concatenate([err[done], given[done], [v for _, v, _, _ in lines],
                                      [eps or 0.0], signed_values]))

    def at_floor(v: np.ndarray) -> np.ndarray:
        return np.where(v > 0, v, floor)

    ok = done & np.isfinite(err)
    ax.scatter(t[ok], at_floor(err[ok]), s=7, color="black", zorder=4,
               label="measured error")
    g = done & np.isfinite(given)
    ax.scatter(t[g], at_floor(given[g]), s=24, facecolor="none", edgecolor="C2", lw=1,
               label="given-set bound\n(the trial's own failed signals)")
    signed = trials.get("bound_given_set_signed")
    gs = done & np.isfinite(signed) if signed is not None else np.zeros_like(done)
    if gs.any():
        ax.scatter(t[gs], at_floor(signed[gs]), s=14, marker="s", facecolor="none",
                   edgecolor="C9", lw=0.8, label="signed given-set bound")
    for label, value, color, style in lines:
        if np.isfinite(value):
            ax.axhline(max(value, floor), color=color, ls=style, lw=1.5, label=label)
        else:  # an overflowed bound: sound, but nothing to draw on a log axis
            ax.plot([], [], color=color, ls=style, lw=1.5, label=f"{label} (not drawn)")
    if eps:
        ax.axhline(eps, color="C0", ls=":", lw=1.5,
                   label=f"error budget epsilon: {eps:.3g}\n(certified quorum)")
    if blocked.any():
        ax.scatter(t[blocked], np.full(blocked.sum(), floor), marker="|", s=40, color="0.5",
                   label="blocked trial\n(no output, nothing to compare)")
    if (ok & (err <= 0)).any() or any(v <= 0 for _, v, _, _ in lines):
        ax.axhline(floor, color="0.6", ls=(0, (1, 3)), lw=1, label=f"0 (drawn at {floor:.2g})")
    if not ok.any():
        ax.text(0.5, 0.5, "every trial blocked: no output, so no measured error;\n"
                "the lines are the worst-case bounds of the scenario", ha="center",
                va="center", transform=ax.transAxes, fontsize=10, color="0.25",
                bbox=dict(facecolor="white", edgecolor="0.7"))
    shown = [*(max(v, floor) for _, v, _, _ in lines if np.isfinite(v)), *at_floor(err[ok]),
             *at_floor(given[g]), *(at_floor(signed[gs]) if gs.any() else [])]
    if blocked.any() or not shown or min(shown) <= floor:
        shown.append(floor)  # something sits on the floor
    lo, hi = min(shown), max(shown)
    # A narrow span: show a decade or so, not ticks that all read the same (1e300: no
    # overflow at hi * 3; no hi / lo, which overflows for a subnormal lo).
    if hi < 1e300 and hi < 10 * lo:
        ax.set_ylim(lo / 3, hi * 3)
    ax.set_yscale("log")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("trial")
    ax.set_ylabel("output error (max-norm)")
    n_blocked = int(blocked.sum())
    ax.set_title(f"{summary['scenario']}: measured error vs bounds\n"
                 f"{summary['violations']} violations, {n_blocked} of {len(t)} trials blocked",
                 fontsize=10)
    legend_outside(ax)
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
    except (ValueError, ArithmeticError) as err:  # overflow, division by 0, ...
        pyplot().close("all")
        print(f"neurosim: warning: {plot.__name__} not drawn ({err})", file=sys.stderr)
        return []
    return out if isinstance(out, list) else [out]


def plot_results(out_dir: str | Path) -> list[Path]:
    """Draw every plot of a results folder; returns the files written.

    The previous run's plots are removed first, so none is left stale.
    """
    out_dir = Path(out_dir)
    remove_files(out_dir)
    summary = strict_json.loads((out_dir / "summary.json").read_text())
    if not isinstance(summary, dict):
        raise InputError(str(out_dir / "summary.json"), None,
                         f"holds a {type(summary).__name__}, not the object neurosim writes")
    trials = read_trials(out_dir)
    if not trials:
        raise InputError(str(out_dir / "trials.csv"), None, "no trial rows: nothing to draw")
    paths = drawn(plot_latency_cdf, out_dir, trials, summary) + \
        drawn(plot_error_vs_bounds, out_dir, trials, summary)
    if (out_dir / "trace_trial0.npz").is_file():
        from neurosim.front.trace_plots import plot_network, plot_timeline, read_trace

        trace = read_trace(out_dir / "trace_trial0.npz")
        paths += drawn(plot_timeline, out_dir, trace, summary) + \
            drawn(plot_network, out_dir, trace, summary)
    return paths
