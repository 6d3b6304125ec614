"""The plots of one trial (trace_trial0.npz): its firing timeline and its network.

The trace holds, per layer, when each neuron fired (inf: never), which
neurons crashed or were Byzantine, which signals each receiver used, which
messages were lost and every message's delay; older traces without delays
draw no arrivals.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neurosim.front.plots import STATE_COLORS, legend_outside, pyplot, save_figure

Array = np.ndarray


def read_trace(path: Path) -> dict:
    """trace_trial0.npz as lists per layer: fire_time, crashed, byzantine (0..L+1); used,
    lost, latency (1..L+1, indexed l-1; latency empty if not stored); processing."""
    with np.load(path, allow_pickle=False) as data:
        layers = sum(1 for k in data.files if k.startswith("fire_time_"))
        trace: dict = {k: [data[f"{k}_{l}"] for l in range(layers)]
                       for k in ("fire_time", "crashed", "byzantine")}
        trace.update({k: [data[f"{k}_{l}"] for l in range(1, layers)] for k in ("used", "lost")})
        trace["latency"] = ([data[f"latency_{l}"] for l in range(1, layers)]
                            if "latency_1" in data.files else [])
        trace["processing"] = float(data["processing"]) if "processing" in data.files else 0.0
    return trace


def layer_names(n_layers: int) -> list[str]:
    """inputs, layer 1..L, outputs."""
    return ["inputs"] + [f"layer {l}" for l in range(1, n_layers - 1)] + ["outputs"]


def arrivals(trace: dict, l: int) -> Array:
    """(N_l, N_{l-1}) arrival time of each message into layer l; inf if never sent or lost."""
    sent = trace["fire_time"][l - 1][None, :]
    arrival = sent + trace["latency"][l - 1]
    arrival[trace["lost"][l - 1] | ~np.isfinite(np.broadcast_to(sent, arrival.shape))] = np.inf
    return arrival


def rule_held(trace: dict, l: int) -> tuple[Array, Array]:
    """When each neuron of layer l's firing rule held (fire time - processing), and whether
    a timeout made it hold (no used signal arrived at that moment)."""
    held = trace["fire_time"][l] - trace["processing"]
    if not trace["latency"]:
        return held, np.zeros(len(held), dtype=bool)
    arr = np.where(trace["used"][l - 1], arrivals(trace, l), -np.inf)
    last_used = arr.max(axis=1) if arr.shape[1] else np.full(len(held), -np.inf)
    return held, np.isfinite(held) & (held > last_used)


def plot_timeline(out_dir: Path, trace: dict, summary: dict) -> Path:
    """One trial: message arrivals, the moment each neuron's rule held and when it fired.

    Neurons that never fired (crashed, or blocked) are marked in a column
    right of the last event, so they cannot be mistaken for a firing time.
    """
    plt = pyplot()
    fire = trace["fire_time"]
    n_layers = len(fire)
    finite = np.concatenate([t[np.isfinite(t)] for t in fire])
    t_end = float(finite.max()) if len(finite) else 1.0
    any_never = any((~np.isfinite(t)).any() for t in fire)
    # The never-fired column, right of the last firing (or just the plot's right edge).
    never_x = t_end * 1.12 + 0.05 * max(t_end, 1e-9) if any_never else t_end * 1.03
    fig, ax = plt.subplots(figsize=(10, 4.8))
    later = 0
    for l, t in enumerate(fire):
        n = len(t)
        y = l + (np.arange(n) - (n - 1) / 2) / max(n, 1) * 0.8
        if l >= 1 and trace["latency"]:
            arr = arrivals(trace, l)
            used = trace["used"][l - 1]
            rows = np.broadcast_to(y[:, None], arr.shape)
            ok = np.isfinite(arr) & (arr <= never_x)
            later += int((np.isfinite(arr) & (arr > never_x)).sum())
            ax.scatter(arr[ok & used], rows[ok & used], s=3, color="0.55", lw=0,
                       label="message arrived, used")
            fired_j = np.broadcast_to(np.isfinite(t)[:, None], arr.shape)
            late = ok & ~used & fired_j
            ax.scatter(arr[late], rows[late], s=7, marker="o", facecolor="none",
                       edgecolor="#e377c2", lw=0.5,
                       label="message arrived, not used\n(after the rule held: skipped as slow)")
            idle = ok & ~fired_j
            ax.scatter(arr[idle], rows[idle], s=7, marker="o", facecolor="none",
                       edgecolor="0.6", lw=0.5, label="message arrived at a neuron that "
                       "never fired")
            held, by_timeout = rule_held(trace, l)
            q = np.isfinite(held) & ~by_timeout
            ax.scatter(held[q], y[q], s=40, marker="|", color="black", lw=1,
                       label="rule held: enough signals (quorum / all)")
            if by_timeout.any():
                ax.scatter(held[by_timeout], y[by_timeout], s=30, marker="v", color="#bcbd22",
                           label="rule held: timeout")
        fired = np.isfinite(t)
        byz = trace["byzantine"][l] & fired
        ax.scatter(t[fired & ~byz], y[fired & ~byz], s=10, color=STATE_COLORS["fired"],
                   zorder=3, label="fired (sent its value)")
        ax.scatter(t[byz], y[byz], s=18, marker="D", color=STATE_COLORS["Byzantine"],
                   zorder=3, label="Byzantine (fired, sends wrong values)")
        crashed = trace["crashed"][l]
        ax.scatter(t[crashed & fired], y[crashed & fired], s=40, facecolor="none",
                   edgecolor=STATE_COLORS["crashed"], zorder=3,
                   label="crashed after sending")
        for mask, name in ((crashed & ~fired, "crashed"), (~crashed & ~fired, "never fired")):
            ax.scatter(np.full(mask.sum(), never_x), y[mask], marker="x", s=22,
                       color=STATE_COLORS[name], zorder=3,
                       label=f"{name} (drawn in the right column)" if name == "crashed"
                       else "never fired: blocked (right column)")
    if any_never:
        ax.axvline(never_x - 0.04 * max(t_end, 1e-9), color="0.7", lw=0.8)
        ax.text(never_x, n_layers - 0.45, "never\nfired", ha="center", va="bottom", fontsize=7)
    legend_outside(ax, markerscale=1.5)
    for l in range(n_layers - 1):  # each layer's neurons in a band of their own
        ax.axhline(l + 0.5, color="0.85", lw=0.8)
    ax.set_yticks(range(n_layers), layer_names(n_layers))
    ax.set_xlim(-0.02 * never_x, never_x * 1.04)
    ax.set_ylim(-0.6, n_layers - 0.2)
    ax.set_xlabel("simulated time" + (f"  ({later} later arrivals beyond the right edge, "
                                      "not drawn)" if later else ""))
    ax.set_title(f"{summary['scenario']}: trial 0, who received what and fired when",
                 fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return save_figure(fig, out_dir / "timeline_trial0.png")


def sample_neurons(trace: dict, l: int, limit: int) -> Array:
    """Indices of at most `limit` neurons of layer l to draw: every crashed, Byzantine or
    never-fired one first (up to the limit), then evenly spread others."""
    n = len(trace["fire_time"][l])
    if n <= limit:
        return np.arange(n)
    special = np.flatnonzero(trace["crashed"][l] | trace["byzantine"][l]
                             | ~np.isfinite(trace["fire_time"][l]))[:limit]
    others = np.setdiff1d(np.arange(n), special)
    spread = others[np.linspace(0, len(others) - 1, limit - len(special)).round().astype(int)]
    return np.sort(np.concatenate([special, spread]))


# Why a receiver that fired did not use a synapse's signal (or used a corrupted one):
# style and legend text.
UNUSED_STYLES = {
    "corrupted": dict(color="#ff7f0e", ls="-", lw=0.8,
                      label="used, but corrupted (Byzantine sender)"),
    "no_signal": dict(color="#d62728", ls=(0, (1, 1.5)), lw=0.9,
                      label="not used: the sender crashed or never fired"),
    "lost": dict(color="#9467bd", ls="-.", lw=0.9, label="not used: message lost"),
    "slow": dict(color="#e377c2", ls="--", lw=0.7, label="not used: skipped as slow "
                 "(arrived after the rule held)"),
}


def signal_fates(trace: dict, l: int) -> Array:
    """(N_l, N_{l-1}) what became of each signal into layer l: "used", "corrupted" (used,
    from a Byzantine sender), "no_signal" (the sender crashed or never fired), "lost", "slow"
    (sent, not lost, yet not used: it came after the receiver's rule held), or "" where the
    receiver never fired."""
    used, lost = trace["used"][l - 1], trace["lost"][l - 1]
    sent = np.broadcast_to(np.isfinite(trace["fire_time"][l - 1])[None, :], used.shape)
    byz = np.broadcast_to(trace["byzantine"][l - 1][None, :], used.shape)
    fate = np.select([used & byz, used, ~sent, lost], ["corrupted", "used", "no_signal", "lost"],
                     "slow").astype(object)
    fate[~np.isfinite(trace["fire_time"][l])] = ""
    return fate


def plot_network(out_dir: Path, trace: dict, summary: dict, max_neurons: int = 14) -> Path:
    """The network in trial 0: neuron states and, for each receiver that fired, which
    signals it used and why it did not use the others.

    Layers wider than `max_neurons` are drawn as a sample (every failed or
    never-fired neuron first); the layer's label says how many are shown.
    """
    plt = pyplot()
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    fire = trace["fire_time"]
    n_layers = len(fire)
    shown = [sample_neurons(trace, l, max_neurons) for l in range(n_layers)]
    ypos = [{int(i): (k - (len(s) - 1) / 2) / max(len(s), 1) for k, i in enumerate(s)}
            for s in shown]
    fig, ax = plt.subplots(figsize=(10, 6))
    segs: dict[str, list] = {"used": [], "corrupted": [], "no_signal": [], "lost": [],
                             "slow": []}
    for l in range(1, n_layers):
        fate = signal_fates(trace, l)
        for j in shown[l]:
            for i in shown[l - 1]:
                if fate[j, i]:  # a receiver that never fired used nothing: no edge to explain
                    segs[fate[j, i]].append([(l - 1, ypos[l - 1][int(i)]),
                                             (l, ypos[l][int(j)])])
    ax.add_collection(LineCollection(segs["used"], colors="0.6", linewidths=0.4, alpha=0.35))
    for kind, style in UNUSED_STYLES.items():
        if segs[kind]:
            ax.add_collection(LineCollection(segs[kind], colors=style["color"],
                                             linestyles=[style["ls"]],
                                             linewidths=style["lw"], alpha=0.8))
    states = {"fired": [], "crashed": [], "Byzantine": [], "never fired": []}
    for l, s in enumerate(shown):
        for i in s:
            state = ("crashed" if trace["crashed"][l][i] else
                     "Byzantine" if trace["byzantine"][l][i] else
                     "fired" if np.isfinite(fire[l][i]) else "never fired")
            states[state].append((l, ypos[l][int(i)]))
    for state, pts in states.items():
        if pts:
            xy = np.array(pts)
            ax.scatter(xy[:, 0], xy[:, 1], s=45, color=STATE_COLORS[state], zorder=3,
                       edgecolor="white", lw=0.5)
    for l, name in enumerate(layer_names(n_layers)):
        n = len(fire[l])
        note = f"{len(shown[l])} of {n} shown" if len(shown[l]) < n else f"{n} neurons"
        ax.text(l, 0.56, f"{name}\n({note})", ha="center", va="bottom", fontsize=8)
    handles = [Line2D([], [], ls="", marker="o", color=STATE_COLORS[s], label=label)
               for s, label in (("fired", "fired"), ("crashed", "crashed"),
                                ("Byzantine", "Byzantine"),
                                ("never fired", "never fired (blocked)")) if states[s]]
    handles.append(Line2D([], [], color="0.6", lw=1, label="signal used"))
    handles += [Line2D([], [], color=st["color"], ls=st["ls"], lw=1.2, label=st["label"])
                for kind, st in UNUSED_STYLES.items() if segs[kind]]
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0),
              frameon=False)
    ax.set_xlim(-0.3, n_layers - 0.7)
    ax.set_ylim(-0.58, 0.72)
    ax.set_title(f"{summary['scenario']}, trial 0: the network and the signals each neuron "
                 "used\n(edges are drawn only into neurons that fired)", fontsize=9)
    ax.axis("off")
    return save_figure(fig, out_dir / "network_trial0.png")
