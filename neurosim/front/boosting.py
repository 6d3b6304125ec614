"""Boosting plots of a sweep folder: latency vs accuracy, latency CDFs, liveness.

Each grid point's summary.json (and, for the CDFs, its trials.csv) is read
from DIR/points/<id>/, so the plots need nothing but the sweep folder:

- `pareto.png`: p99 and mean output latency against accuracy (against the
  agreement with the fault-free argmax when the inputs have no labels), one
  colour per latency model, one column per crash count; the Pareto front of
  each model drawn; markers tell the certifier (signed ^, weight-aware o,
  paper's Fep s) and wait-all (*). `latency_vs_error.png`: the same against the measured
  max output error.
- `latency_cdf_quorum.png`: the latency CDF of wait-all and of up to three
  weight-aware certified quorums (the smallest, a middle and the largest
  budget among those that keep at least half the best accuracy), for Pareto
  latencies when they were swept.
- `liveness.png`: fraction of trials that complete, p99 latency, max error and
  accuracy (or agreement) against crashed neurons per layer, one line per rule.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurosim.data import strict_json
from neurosim.errors import InputError
from neurosim.front.plots import pyplot, read_trials, rule_color, save_figure, say_empty
from neurosim.sweep import read_sweep

DPI = 100
MARKERS = {"signed": "^", "weight_aware": "o", "paper": "s"}
TAGS = {"signed": "s", "paper": "p"}  # after a budget label: which bound certified it


@dataclass
class Point:
    """One finished grid point: its swept values, summary.json and folder."""

    params: dict[str, Any]
    summary: dict[str, Any]
    folder: Path

    def get(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)

    @property
    def model(self) -> str:
        """The latency model, when swept."""
        return self.params.get("latency.model", "latency")

    @property
    def plan(self) -> dict | None:
        return self.summary.get("quorum_plan")

    @property
    def wait_all(self) -> bool:
        """An auto quorum that skips nothing (the budget allows no skip)."""
        return self.plan is not None and not any(self.plan["skipped"])

    @property
    def fires_on_first(self) -> bool:
        """Every neuron fires on its first signal: a budget above the saturated bound."""
        return bool(self.summary.get("quorum")) and all(k == 1 for k in self.summary["quorum"])

    @property
    def completed(self) -> float:
        s = self.summary
        return 1.0 - s["blocked_trials"] / s["trials"] if s["trials"] else float("nan")

    @property
    def quality(self) -> float:
        """Accuracy when the inputs have labels, else agreement with the fault-free argmax."""
        s = self.summary
        return s.get("accuracy", s.get("agreement", float("nan")))


def read_points(out_dir: Path) -> tuple[list[str], list[Point]]:
    """The swept keys and every grid point whose summary.json exists."""
    keys, rows = read_sweep(out_dir)
    points = []
    for r in rows:
        folder = out_dir / "points" / r["point"]
        if (folder / "summary.json").is_file():
            summary = strict_json.loads((folder / "summary.json").read_text())
            if not isinstance(summary, dict):
                raise InputError(str(folder / "summary.json"), None,
                                 f"holds a {type(summary).__name__}, not the object neurosim "
                                 "writes")
            points.append(Point({k: r[k] for k in keys}, summary, folder))
    return keys, points


def _label(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _columns(points: list[Point], key: str = "failures.crash") -> list[tuple[str, list[Point]]]:
    """Points split by the value of `key` (one panel column each), in sweep order."""
    cols: dict[str, list[Point]] = {}
    for p in points:
        cols.setdefault(_label(p.get(key, "")), []).append(p)
    return list(cols.items())


def _quality_name(points: list[Point]) -> str:
    labelled = any("accuracy" in p.summary for p in points)
    return "accuracy" if labelled else "agreement with the fault-free argmax"


def pareto_front(xs: np.ndarray, ys: np.ndarray, higher_x_better: bool) -> np.ndarray:
    """Indices of the points not dominated in (x better, y = latency lower), by latency."""
    order = np.lexsort((-xs if higher_x_better else xs, ys))
    front, best = [], -np.inf
    for i in order:
        x = xs[i] if higher_x_better else -xs[i]
        if x > best:
            front.append(i)
            best = x
    return np.array(front, dtype=int)


def plot_tradeoff(out_dir: Path, points: list[Point], x_metric: str) -> Path:
    """Latency (p99, mean) against quality or measured error: pareto.png / latency_vs_error.png."""
    plt = pyplot()
    from matplotlib.lines import Line2D

    cols = _columns(points)
    models = list(dict.fromkeys(p.model for p in points))
    higher = x_metric == "quality"  # else "error"
    # At least 8 wide: the legend and the title need it with a single column.
    fig, axes = plt.subplots(2, len(cols), figsize=(max(5.5 * len(cols), 8.0), 8),
                             squeeze=False)
    for c, (crash, pts) in enumerate(cols):
        for r, (stat, stat_name) in enumerate((("latency_p99", "p99"),
                                               ("latency_mean", "mean"))):
            ax = axes[r, c]
            notes = _tradeoff_panel(ax, pts, models, stat, higher)
            ax.set_ylabel(f"{stat_name} output latency")
            ax.set_xlabel(_quality_name(points) if higher else "measured max output error")
            title = f"crashed neurons per layer: {crash}" if crash else ""
            note = "\n".join(textwrap.wrap(f"not drawn: {notes}", 70)) if notes else ""
            ax.set_title("\n".join(filter(None, (title, note))), fontsize=8)
    handles = [Line2D([], [], color=f"C{m}", lw=1, label=f"{model} (front)")
               for m, model in enumerate(models)]
    handles += [Line2D([], [], ls="", marker="*", ms=11, color="0.5", mec="black",
                       label="wait-all (budget allows no skip)"),
                Line2D([], [], ls="", marker="o", color="0.5",
                       label="quorum certified by the weight-aware bound"),
                Line2D([], [], ls="", marker="^", ms=10, mfc="none", color="0.5",
                       label="quorum certified by the signed bound"),
                Line2D([], [], ls="", marker="s", mfc="none", color="0.5",
                       label="quorum certified by the paper's Fep"),
                Line2D([], [], ls="", label="numbers: the budget epsilon "
                       "(s: signed, p: paper's Fep, else weight-aware)")]
    fig.legend(handles=handles, loc="lower center", ncol=3 if len(cols) > 1 else 2, fontsize=8,
               frameon=False)
    what = _quality_name(points) if higher else "measured error"
    fig.suptitle(f"{out_dir.name}: output latency vs {what}\nquorum = 'auto' over the "
                 "budget epsilon; lines: the Pareto front of each latency model", fontsize=10)
    fig.tight_layout(rect=(0, 0.07 if len(cols) > 1 else 0.1, 1, 0.97))
    name = "pareto.png" if higher else "latency_vs_error.png"
    fig.savefig(out_dir / name, dpi=DPI)
    plt.close(fig)
    return out_dir / name


def _tradeoff_panel(ax, pts: list[Point], models: list[str], stat: str, higher: bool) -> str:
    """One panel: the points of every latency model, their fronts and budgets.

    Returns what was left out: points blocked on every trial and, against
    accuracy, quorums of 1 signal (budgets above the saturated bound skip nearly
    everything: chance accuracy at near-zero latency would squash the axes).
    """
    drawn = [p for p in pts if p.summary[stat] is not None]
    notes = []
    if len(drawn) < len(pts):
        notes.append(f"{len(pts) - len(drawn)} blocked on every trial")
    if higher and any(p.fires_on_first for p in drawn):
        notes.append(f"{sum(p.fires_on_first for p in drawn)} that fire on the first signal "
                     "(quorum 1)")
        drawn = [p for p in drawn if not p.fires_on_first]
    for m, model in enumerate(models):
        mine = [p for p in drawn if p.model == model]
        if not mine:
            continue
        xs = np.array([p.quality if higher else p.summary["max_error"] for p in mine])
        ys = np.array([p.summary[stat] for p in mine])
        front = pareto_front(xs, ys, higher)
        ax.step(xs[front], ys[front], where="pre", color=f"C{m}", alpha=0.5, lw=1)
        for p, x, y in zip(mine, xs, ys):
            if p.wait_all:
                ax.scatter(x, y, marker="*", s=180, color=f"C{m}", edgecolor="black", zorder=4)
            else:
                cert = p.plan["certify"] if p.plan else ""
                # Signed and paper hollow, the signed larger: certifiers that picked the
                # same quorums land on one point, and each marker stays visible there.
                ax.scatter(x, y, marker=MARKERS.get(cert, "D"), s=110 if cert == "signed" else 36,
                           zorder=3, facecolor="none" if cert in ("paper", "signed") else f"C{m}",
                           edgecolor=f"C{m}")
    if not drawn:
        say_empty(ax, "no point to draw:\nevery one blocked on every trial")
    ax.set_yscale("log")  # before the labels: they are placed in screen space
    ax.grid(alpha=0.3, which="both")
    labelled = "pareto" if "pareto" in models else models[0]
    _label_budgets(ax, [p for p in drawn if p.model == labelled], stat, higher,
                   f"C{models.index(labelled)}")
    return ", ".join(notes)


def _label_budgets(ax, points: list[Point], stat: str, higher: bool, color: str) -> None:
    """Write the budgets next to the points (s: signed-, p: paper-certified; one label per
    place)."""
    at: dict[tuple, list[str]] = {}
    for p in points:
        if p.plan:
            x = p.quality if higher else p.summary["max_error"]
            tag = f"{p.plan['budget']:g}" + TAGS.get(p.plan["certify"], "")
            at.setdefault((round(x, 4), round(p.summary[stat], 4)), []).append(tag)
    ax.autoscale_view()
    placed: list[tuple[float, float, float, float]] = []  # label boxes, in pixels
    for (x, y), tags in sorted(at.items(), key=lambda item: (item[0][1], item[0][0])):
        text = ",".join(tags)
        dx, dy = _free_offset(ax.transData.transform((x, y)), text, placed,
                              ax.get_window_extent().x1)
        ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset pixels", fontsize=6,
                    color=color, arrowprops=None if (dx, dy) == _OFFSETS[0] else
                    dict(arrowstyle="-", color=color, lw=0.4, alpha=0.6))


# Where a budget label may go relative to its point (pixels), nearest first.
_OFFSETS = [(3, 4), (3, -11), (-3, 4), (-3, -11), (3, 14), (3, -21), (-3, 14), (-3, -21),
            (12, 24), (12, -31), (-12, 24), (-12, -31), (20, 36), (20, -43)]


def _free_offset(anchor, text: str, placed: list, right: float) -> tuple[int, int]:
    """The first offset in _OFFSETS whose label box overlaps no placed one and stays left of
    `right` (else the first); the box is recorded. Boxes are estimated from the text length
    (6 pt font), in pixels."""
    w, h = 5.0 * len(text) + 2, 9.0
    px, py = anchor
    for dx, dy in _OFFSETS:
        left = px + dx if dx >= 0 else px + dx - w
        if left + w > right:
            continue
        box = (left, py + dy, left + w, py + dy + h)
        if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3]
                   for b in placed):
            placed.append(box)
            return (dx if dx >= 0 else int(dx - w)), dy
    placed.append((px + 3, py + 4, px + 3 + w, py + 4 + h))
    return _OFFSETS[0]


def _cdf(ax, folder: Path, label: str, color: str, **kw) -> None:
    lat = read_trials(folder).get("latency", np.array([]))
    done = np.sort(lat[np.isfinite(lat)])
    if not len(done):  # every trial blocked: the CDF stays at 0
        ax.axhline(0, color=color, label=label, **kw)
        return
    ax.step(done, np.arange(1, len(done) + 1) / len(lat), where="post", color=color,
            label=label, **kw)


def _spread(items: list, n: int = 3) -> list:
    """Up to n items spread over the list: first, middle, last."""
    if len(items) <= n:
        return items
    return [items[i] for i in sorted({round(j * (len(items) - 1) / (n - 1)) for j in range(n)})]


def readable_log_ticks(axis) -> None:
    """Ticks at 1, 2, 5 times powers of ten, written as plain numbers, no minor labels
    (matplotlib's default labels 3x10^1 and 4x10^1 on top of each other on a short axis)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def plot_quorum_cdfs(out_dir: Path, points: list[Point]) -> Path:
    """Latency CDFs of wait-all and of certified weight-aware quorums at spread budgets."""
    plt = pyplot()
    models = list(dict.fromkeys(p.model for p in points))
    model = "pareto" if "pareto" in models else models[0]
    mine = [p for p in points if p.model == model]
    cols = _columns(mine)
    fig, axes = plt.subplots(1, len(cols), figsize=(6 * len(cols), 4.5), squeeze=False)
    q_name = "acc" if any("accuracy" in p.summary for p in mine) else "agree"
    for ax, (crash, pts) in zip(axes[0], cols):
        waits = [p for p in pts if p.wait_all]
        if waits:
            w = waits[0]
            status = (f"{w.summary['blocked_trials']} of {w.summary['trials']} blocked"
                      if w.summary["blocked_trials"] else f"{q_name} {w.quality:.3f}")
            _cdf(ax, w.folder, f"wait-all ({status})", "black", lw=2)
        certified, seen = [], set()
        for p in sorted(pts, key=lambda p: p.get("firing.epsilon", 0)):
            plan = p.plan
            if (plan and plan["certified"] and plan["certify"] != "paper"
                    and not p.wait_all and tuple(plan["skipped"]) not in seen):
                seen.add(tuple(plan["skipped"]))
                certified.append(p)
        best = max((p.quality for p in pts), default=0.0)
        certified = [p for p in certified if p.quality >= best / 2] or certified
        for i, p in enumerate(_spread(certified)):
            _cdf(ax, p.folder, f"epsilon {p.plan['budget']:g}: quorum {p.summary['quorum']}, "
                 f"{q_name} {p.quality:.3f}", f"C{i}")
        ax.set_xscale("log")
        readable_log_ticks(ax.xaxis)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("output latency (simulated time)")
        ax.set_ylabel("fraction of trials completed")
        ax.set_title(f"{model}, crashed neurons per layer: {crash}", fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{out_dir.name}: wait-all vs weight-aware certified quorums", fontsize=10)
    return save_figure(fig, out_dir / "latency_cdf_quorum.png", dpi=DPI)


def plot_liveness(out_dir: Path, points: list[Point]) -> Path:
    """Completion, p99 latency, error and quality against crashes per layer, one line per rule."""
    plt = pyplot()
    rules = list(dict.fromkeys(p.get("firing.rule") for p in points))
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    panels = [(axes[0, 0], "fraction of trials that complete", lambda p: p.completed),
              (axes[0, 1], "p99 output latency (completed trials)",
               lambda p: p.summary["latency_p99"]),
              (axes[1, 0], "measured max output error", lambda p: p.summary["max_error"]),
              (axes[1, 1], _quality_name(points), lambda p: p.quality)]
    for i, rule in enumerate(rules):
        pts = sorted((p for p in points if p.get("firing.rule") == rule),
                     key=lambda p: np.max(p.get("failures.crash")))
        xs = [np.max(p.get("failures.crash")) for p in pts]
        for ax, _, value in panels:
            ys = [np.nan if value(p) is None else value(p) for p in pts]
            ax.plot(xs, ys, marker="os^Dv"[i % 5], color=rule_color(rule, i), label=rule,
                    ls="-" if i % 2 == 0 else "--")
    budgets = {p.plan["budget"] for p in points if p.plan and p.plan["certified"]}
    for eps in sorted(budgets):
        axes[1, 0].axhline(eps, color="0.4", ls=":", label=f"epsilon = {eps:g} (quorum)")
    for ax, name, value in panels:
        if not any(value(p) is not None and np.isfinite(value(p)) for p in points):
            say_empty(ax, "nothing to draw: every point blocked on every trial")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel("crashed neurons per hidden layer")
        ax.set_ylabel(name, fontsize=9)
        ax.grid(alpha=0.3)
    budget = [(h, lab) for h, lab in zip(*axes[1, 0].get_legend_handles_labels())
              if lab.startswith("epsilon")]
    if budget:  # the budget lines here; the rules share the figure's legend
        axes[1, 0].legend(*zip(*budget), fontsize=7)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(rules), fontsize=8,
               frameon=False, title="firing rule", title_fontsize=8)
    axes[0, 0].set_ylim(-0.03, 1.05)
    fig.suptitle(f"{out_dir.name}: liveness under crashes (wait-all has no timeout)",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(out_dir / "liveness.png", dpi=DPI)
    plt.close(fig)
    return out_dir / "liveness.png"


def plot_boosting(out_dir: str | Path) -> list[Path]:
    """Every boosting plot the sweep's keys allow; returns the files written."""
    out_dir = Path(out_dir)
    keys, points = read_points(out_dir)
    if not points:
        return []
    paths = []
    if "firing.epsilon" in keys and any(p.plan for p in points):
        paths += [plot_tradeoff(out_dir, points, "quality"),
                  plot_tradeoff(out_dir, points, "error"),
                  plot_quorum_cdfs(out_dir, points)]
    if "firing.rule" in keys and "failures.crash" in keys:
        paths.append(plot_liveness(out_dir, points))
    return paths
