"""A found configuration as an engine trial, its error as the engine computes it, and a
scenario folder that `neurosim run` replays.

The replay scenario pins everything: the crashed and Byzantine neurons
(`placement = "list"`), the input (`inputs.kind = "file"`), and in
`failures.pinned` the lost and Byzantine synapses, the value every replaced
signal delivers and the stored weights. Delays are constant (1) and a
neuron fires half a time unit after its first signal or when all have come,
so a missing signal never blocks a receiver and every signal that is sent
is used.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from neurosim.attack.faults import Batch, FaultModel
from neurosim.data.network import Network, save_network
from neurosim.data.quantize import within_precision
from neurosim.engines.fast import simulate_fast
from neurosim.engines.plan import FiringRule, TrialPlan

Array = np.ndarray

REPLAY_RULE = FiringRule(quorum=None, timeout=0.5, timeout_from_start=False, processing=0.0,
                         horizon=1000.0)


def trial_plan(net: Network, batch: Batch, b: int = 0) -> TrialPlan:
    """Element b of `batch` as the engines' TrialPlan (constant delays of 1)."""
    sizes, L = net.sizes, net.depth
    crashed = [np.zeros(n, dtype=bool) for n in sizes]
    byzantine = [np.zeros(n, dtype=bool) for n in sizes]
    for l, (c, z) in enumerate(batch.sets[b], start=1):
        crashed[l][list(c)] = True
        byzantine[l][list(z)] = True
    lost, replaced, value, weights = [], [], [], []
    for l in range(1, L + 2):
        lost.append(batch.missing[l - 1][b] & ~batch.neuron_missing[l - 1][b])
        replaced.append(batch.replaced[l - 1][b].copy())
        value.append(np.where(replaced[-1], batch.value[l - 1][b], 0.0))
        W = net.weights[l - 1]
        werr = batch.werr[l - 1]
        # W + err can round beyond |err|'s largest (<= eta): kept within it, exactly, as the
        # bounds and the replay's pinned weights require.
        weights.append(W if werr is None else
                       within_precision(W + werr[b], W, float(np.abs(werr[b]).max())))
    latency = [np.ones((sizes[l], sizes[l - 1])) for l in range(1, L + 2)]
    return TrialPlan(0, 0, batch.x[b].copy(), crashed, 0.0, byzantine, lost, replaced, value,
                     weights, latency)


def engine_difference(net: Network, plan: TrialPlan) -> Array:
    """F'(x) - F(x), (N_{L+1},), as the engines compute it (NaN where an output never fires)."""
    out = simulate_fast(net, plan, REPLAY_RULE)
    return out.output - net.forward(plan.x[None, :])[0]


def engine_error(net: Network, plan: TrialPlan) -> float:
    """max_k |F'_k - F_k| as the engines compute it (NaN if an output never fires)."""
    d = engine_difference(net, plan)
    return float(np.abs(d).max()) if np.all(np.isfinite(d)) else float("nan")


def describe(net: Network, plan: TrialPlan, batch: Batch, b: int = 0) -> dict[str, Any]:
    """The witness as plain data: failed neurons and synapses, values, input.

    Layers: neurons (layer, index) with hidden layers 1..L; synapses
    (receiving layer l, receiver j, sender i) with l = 1..L+1.
    """
    L = net.depth
    w: dict[str, Any] = {
        "input": plan.x.tolist(),
        "crashed": [[l, int(i)] for l in range(1, L + 1) for i in np.flatnonzero(plan.crashed[l])],
        "byzantine": [[l, int(i)] for l in range(1, L + 1)
                      for i in np.flatnonzero(plan.byzantine[l])],
        "lost_synapses": [[l, int(j), int(i)] for l in range(1, L + 2)
                          for j, i in zip(*np.nonzero(plan.lost[l - 1]))],
        "byzantine_synapses": [[l, int(j), int(i)] for l in range(1, L + 2)
                               for j, i in zip(*np.nonzero(
                                   plan.replaced[l - 1] & ~plan.byzantine[l - 1][None, :]))],
        "byzantine_values": [[l, int(j), int(i), float(plan.value[l - 1][j, i])]
                             for l in range(1, L + 2)
                             for j, i in zip(*np.nonzero(plan.replaced[l - 1]))],
        # (the first output when none fires: the witness blocks)
        "output": int(np.argmax(np.nan_to_num(np.abs(engine_difference(net, plan)), nan=-1.0))),
    }
    errs = [plan.weights[l] - net.weights[l] for l in range(L + 1)]
    if any(np.any(e) for e in errs):
        w["weight_errors"] = [e.tolist() for e in errs]
    return w


def write_replay(out_dir: Path, name: str, net: Network, plan: TrialPlan,
                 model: FaultModel) -> Path:
    """Write out_dir/scenario.toml (with net.npz, x.npy, pinned.npz); returns the toml path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    L = net.depth
    save_network(net, out_dir / "net.npz")
    np.save(out_dir / "x.npy", plan.x[None, :])
    # Every layer whose counts would have the run draw lost or Byzantine synapses, values
    # or weight errors is pinned, even to "none": else the run draws them at random.
    pinned = {}
    for l in range(1, L + 2):
        if plan.lost[l - 1].any() or model.lost[l - 1]:
            pinned[f"lost{l}"] = plan.lost[l - 1]
        syn = plan.replaced[l - 1] & ~plan.byzantine[l - 1][None, :]
        if syn.any() or model.corrupted[l - 1]:
            pinned[f"replaced{l}"] = syn
        if plan.replaced[l - 1].any():
            pinned[f"value{l}"] = plan.value[l - 1]
        if plan.weights[l - 1] is not net.weights[l - 1] or model.eta[l - 1]:
            pinned[f"weights{l}"] = plan.weights[l - 1]
    crashed = [[l, int(i)] for l in range(1, L + 1) for i in np.flatnonzero(plan.crashed[l])]
    byz = [[l, int(i)] for l in range(1, L + 1) for i in np.flatnonzero(plan.byzantine[l])]
    # The counts of the synapses the witness fails (at most the model's): with the listed
    # neurons they fit every layer, also where neurons left without signals are listed.
    lost = [int(plan.lost[l].sum(axis=1).max(initial=0)) for l in range(L + 1)]
    corrupted = [int((plan.replaced[l] & ~plan.byzantine[l][None, :]).sum(axis=1).max(initial=0))
                 for l in range(L + 1)]
    lines = [
        f"# The worst case `neurosim attack` found for {name}: `neurosim run` on this file",
        "# replays it (constant delays; a neuron fires 0.5 after its first signal or when all",
        "# have come, so missing signals never block).",
        f"name = {json.dumps(name + '-witness')}",
        "seed = 0",
        "trials = 1",
        "",
        "[network]",
        'file = "net.npz"',
        "",
        "[inputs]",
        'kind = "file"',
        'file = "x.npy"',
        "",
        "[failures]",
        'placement = "list"',
        f"crashed = {json.dumps(crashed)}",
        f"byzantine_list = {json.dumps(byz)}",
        f"synapse_crash = {json.dumps(lost)}",
        f"synapse_byzantine = {json.dumps(corrupted)}",
        f"precision = {json.dumps(list(model.eta))}",
        f"capacity = {model.capacity!r}",
    ]
    if pinned:
        np.savez(out_dir / "pinned.npz", **pinned)
        lines.append('pinned = "pinned.npz"')
    lines += ["", "[latency]", 'model = "constant"', "mean = 1.0", "",
              "[firing]", 'rule = "timeout"', "timeout = 0.5", "horizon = 1000.0", ""]
    path = out_dir / "scenario.toml"
    path.write_text("\n".join(lines))
    return path
