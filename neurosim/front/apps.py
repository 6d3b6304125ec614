"""Plots of the paper's other applications, from a sweep folder's per-point summaries.

- `memory_cost.png` (sweep over `failures.bits`): the bounds (paper's Fep,
  weight-aware, signed where computed) and the measured max and mean error
  against the bits per weight, log scale, with epsilon and the certified
  width marked; accuracy and memory saved against float32 on the right.
- `random_failures.png` (sweep over `failures.crash_probability`): measured
  mean and p99 error, the expected-error bound and the worst-case bound at
  the p99 of the realised counts against p; accuracy on the right.
- `robustness_cost.png` (sweep over `network.train.*`): crashes the bound
  tolerates within epsilon (and as a fraction of the width) against the
  width, one line per alpha; accuracy with that many crashes against the
  training cost (epochs x weights; the wall-clock time is in each summary).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neurosim.front.boosting import Point, read_points
from neurosim.front.plots import pyplot, save_figure

DPI = 110


def plot_apps(out_dir: str | Path) -> list[Path]:
    """Every application plot the sweep's keys allow; returns the files written."""
    out_dir = Path(out_dir)
    keys, points = read_points(out_dir)
    if not points:
        return []
    paths = []
    if "failures.bits" in keys:
        paths.append(plot_memory_cost(out_dir, points))
    if "failures.crash_probability" in keys:
        paths.append(plot_random_failures(out_dir, points))
    if any(k.startswith("network.train.") for k in keys):
        paths.append(plot_robustness_cost(out_dir, points))
    return paths


def _bits(p: Point) -> float:
    b = p.summary["bits_per_layer"]
    return float(np.mean(b))


def _positive(ys) -> np.ndarray:
    """Values for a log axis: NaN where not positive (not drawn)."""
    a = np.array([np.nan if v is None else v for v in ys], dtype=float)
    return np.where(a > 0, a, np.nan)


def plot_memory_cost(out_dir: Path, points: list[Point]) -> Path:
    plt = pyplot()
    pts = sorted(points, key=_bits)
    x = np.array([_bits(p) for p in pts])
    s0 = pts[0].summary
    fig, (ax, ax_acc) = plt.subplots(1, 2, figsize=(11, 4.2))
    series = [("bound_paper", "paper's Fep", "s--", "tab:red"),
              ("bound_weight_aware", "weight-aware bound", "^-", "tab:orange"),
              ("bound_signed", "signed bound", "v-", "tab:purple"),
              ("max_error", "measured max error", "o-", "tab:blue"),
              ("mean_error", "measured mean error", "o:", "tab:cyan")]
    for key, label, style, color in series:
        if all(key in p.summary for p in pts):
            ax.plot(x, _positive([p.summary[key] for p in pts]), style, color=color, label=label)
    eps = s0.get("epsilon")
    if eps is not None:
        ax.axhline(eps, color="0.3", lw=1, ls="-.", label=f"epsilon = {eps:g}")
        for key, color, name in (("certified_bits_weight_aware", "tab:orange", "weight-aware"),
                                 ("certified_bits_paper", "tab:red", "paper")):
            b = s0.get(key)
            if b is not None:
                ax.axvline(b, color=color, lw=1.2, ls=(0, (1, 2)),
                           label=f"fewest bits certified ({name}): {b}")
    ax.set_yscale("log")
    ax.set_xlabel("bits per weight")
    ax.set_ylabel("output error (max-norm over logits)")
    # Below the panel: inside, it would hide some of the lines whatever the corner.
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2,
              frameon=False)
    ax.grid(alpha=0.3, which="both")
    ax.set_title("error of quantized weights: bounds vs measured", fontsize=10)

    _accuracy_panel(ax_acc, x, pts, s0.get("fault_free_accuracy"), "float64 weights",
                    "bits per weight")
    mem = ax_acc.twinx()
    mem.plot(x, [100 * p.summary["memory_saved_vs_float32"] for p in pts], "s:",
             color="tab:green", label="memory saved vs float32")
    mem.set_ylabel("memory saved vs float32 (%)", color="tab:green")
    mem.set_ylim(0, 100)
    handles = ax_acc.get_legend_handles_labels()
    extra = mem.get_legend_handles_labels()
    ax_acc.legend(handles[0] + extra[0], handles[1] + extra[1], fontsize=7, loc="lower right")
    ax_acc.set_title("accuracy and memory", fontsize=10)
    fig.suptitle(f"{s0['scenario']}: weights in b-bit fixed point", fontsize=11)
    fig.tight_layout()
    path = out_dir / "memory_cost.png"
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def _accuracy_panel(ax, x, pts: list[Point], fault_free: float | None, reference: str,
                    xlabel: str) -> None:
    """Accuracy per point on [0, 1], with the reference accuracy as a dashed line."""
    ax.plot(x, [p.summary.get("accuracy", np.nan) for p in pts], "o-", label="accuracy")
    if fault_free is not None:
        ax.axhline(fault_free, color="0.4", ls="--", lw=1,
                   label=f"{reference} ({fault_free:.3f})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy (held-out digits)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)


def _probability(p: Point) -> float:
    return float(np.max(p.summary["crash_probability"] + p.summary["synapse_crash_probability"]))


def plot_random_failures(out_dir: Path, points: list[Point]) -> Path:
    plt = pyplot()
    pts = sorted((p for p in points if "crash_probability" in p.summary), key=_probability)
    x = np.array([_probability(p) for p in pts])
    fig, (ax, ax_acc) = plt.subplots(1, 2, figsize=(11, 4.2))
    series = [("bound_weight_aware_at_p99_counts",
               "worst-case bound at the p99 counts (weight-aware)", "s--", "tab:red"),
              ("expected_error_bound", "expected-error bound (weight-aware)", "^-", "tab:orange"),
              ("expected_error_bound_paper", "expected-error bound (paper's Fep)", "v:",
               "tab:pink"),
              ("error_p99", "measured p99 error", "o--", "tab:blue"),
              ("mean_error", "measured mean error", "o-", "tab:cyan")]
    for key, label, style, color in series:
        ax.plot(x, _positive([p.summary.get(key) for p in pts]), style, color=color, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("crash probability of each hidden neuron, per trial")
    ax.set_ylabel("output error (max-norm over logits)")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3, which="both")
    ax.set_title("random crashes: error and its bounds", fontsize=10)
    _accuracy_panel(ax_acc, x, pts, pts[0].summary.get("fault_free_accuracy") if pts else None,
                    "no failure", "crash probability of each hidden neuron, per trial")
    ax_acc.legend(fontsize=7, loc="lower left")
    ax_acc.set_title("accuracy", fontsize=10)
    name = pts[0].summary["scenario"] if pts else out_dir.name
    fig.suptitle(f"{name}: each neuron crashes independently", fontsize=11)
    return save_figure(fig, out_dir / "random_failures.png", DPI)


def plot_robustness_cost(out_dir: Path, points: list[Point]) -> Path:
    plt = pyplot()
    pts = [p for p in points if p.summary.get("tolerated_crashes") is not None]
    by_alpha: dict[float, list[Point]] = {}
    for p in pts:
        by_alpha.setdefault(float(p.get("network.train.alpha", 1e-4)), []).append(p)
    fig, (ax, ax_frac, ax_cost) = plt.subplots(1, 3, figsize=(14, 4.2))
    cmap = plt.get_cmap("viridis")
    for i, (alpha, group) in enumerate(sorted(by_alpha.items())):
        color = cmap(i / max(len(by_alpha) - 1, 1))
        group = sorted(group, key=_width)
        w = np.array([_width(p) for p in group], dtype=float)
        tol = np.array([sum(p.summary["tolerated_crashes"]) for p in group], dtype=float)
        ax.plot(w, tol, "o-", color=color, label=f"alpha = {alpha:g}")
        ax_frac.plot(w, 100 * tol / w, "o-", color=color, label=f"alpha = {alpha:g}")
        # Work, not wall-clock time: epochs x weights is what a fit costs per training
        # sample, and unlike the time it does not depend on the machine's load.
        cost = [p.summary["training_work"] for p in group]
        ax_cost.plot(cost, [p.summary.get("accuracy", np.nan) for p in group], "o-",
                     color=color, label=f"alpha = {alpha:g}, with the crashes")
        ax_cost.plot(cost, [p.summary.get("fault_free_accuracy", np.nan) for p in group], "x:",
                     color=color, alpha=0.6)
        for c, a, wi in zip(cost, [p.summary.get("accuracy", np.nan) for p in group], w):
            ax_cost.annotate(f"{int(wi)}", (c, a), xytext=(2, -9), textcoords="offset points",
                             fontsize=6, color=color)
    eps = pts[0].summary.get("epsilon") if pts else None
    for a in (ax, ax_frac):
        a.set_xscale("log", base=2)
        a.set_xlabel("hidden neurons (width)")
        a.grid(alpha=0.3, which="both")
        a.legend(fontsize=7)
    ax.set_ylabel("crashed neurons the bound tolerates")
    ax.set_title(f"tolerated crashes within epsilon = {eps}", fontsize=10)
    ax_frac.set_ylabel("tolerated crashes (% of the width)")
    ax_frac.set_title("as a fraction of the width", fontsize=10)
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax_cost.set_xscale("log")
    ax_cost.xaxis.set_minor_formatter(NullFormatter())
    for a in (ax, ax_frac):
        a.xaxis.set_major_formatter(ScalarFormatter())
    ax_cost.set_xlabel("training cost: epochs x weights (per training digit)")
    ax_cost.set_ylabel("accuracy (held-out digits)")
    ax_cost.set_title("accuracy with those crashes (x: none) vs learning cost", fontsize=10)
    ax_cost.grid(alpha=0.3, which="both")
    ax_cost.legend(fontsize=7, loc="lower right")
    fig.suptitle("robustness vs learning cost (digits, one hidden layer, widths labelled)",
                 fontsize=11)
    return save_figure(fig, out_dir / "robustness_cost.png", DPI)


def _width(p: Point) -> int:
    hidden = p.get("network.train.hidden")
    if hidden is None:
        return int(np.sum(p.summary.get("tolerated_crashes", [0])))
    return int(hidden[0] if isinstance(hidden, list) else hidden)
