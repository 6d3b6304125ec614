"""The failure model the attack searches, and a batched faulty forward pass with its gradient.

A *configuration* says, per receiving layer l = 1..L+1 and per synapse
(j <- i), whether receiver j uses 0 for the signal of i (missing: a crashed
sender, a lost message, a signal a quorum skips), an arbitrary value in
[-C, C] (replaced: a Byzantine sender or synapse), or the value sent; and
how far each stored weight is off (within eta). What a receiver computes
with is then, as in the engines,

    u_ji = value_ji if replaced, 0 if missing, y'_i otherwise,
    s'_j = sum_i (W_ji + E_ji) u_ji + b_j.

`Batch` holds B configurations with one input each and the output k and
sign whose error sign * (F'_k(x) - F_k(x)) the climb increases; `evaluate`
gives that objective, the max-norm error and the gradients (numpy
backpropagation through the known activations) with respect to the input,
the replaced values and the weight errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from neurosim.data.build import scenario_counts
from neurosim.data.counts import Failures
from neurosim.data.network import Network
from neurosim.setup import Setup

Array = np.ndarray


@dataclass(frozen=True)
class FaultModel:
    """At-most counts of every failure kind the attack searches.

    crash, byzantine: neurons per hidden layer 1..L.
    lost: extra missing signals per receiver of layer 1..L+1 beyond the
    crashed senders (lost messages, and signals a quorum does not wait for).
    corrupted: Byzantine synapses per receiver of layer 1..L+1.
    eta: weight error per layer 1..L+1. capacity: C.
    """

    crash: tuple[int, ...]
    byzantine: tuple[int, ...]
    lost: tuple[int, ...]
    corrupted: tuple[int, ...]
    eta: tuple[float, ...]
    capacity: float

    @property
    def synapse_level(self) -> bool:
        """Whether some failure is chosen per synapse (not per neuron)."""
        return any(self.lost) or any(self.corrupted) or any(self.eta)

    def describe(self) -> str:
        parts = [f"crash {list(self.crash)}"]
        if any(self.byzantine):
            parts.append(f"byzantine {list(self.byzantine)}")
        if any(self.lost):
            parts.append(f"missing synapses per receiver {list(self.lost)}")
        if any(self.corrupted):
            parts.append(f"byzantine synapses per receiver {list(self.corrupted)}")
        if any(self.eta):
            parts.append(f"eta {list(self.eta)}")
        if any(self.byzantine) or any(self.corrupted):
            parts.append(f"C {self.capacity:g}")
        return ", ".join(parts)


def silenced_layers(net: Network, failures: Failures) -> list[bool]:
    """Per hidden layer l = 1..L, whether its neurons can be left without any signal.

    A receiver that misses every one of its N_{l-1} signals never fires (a
    timeout counts from the first signal, a quorum is never met), so its own
    receivers miss it as if it had crashed; then the next layer can be
    silenced too.
    """
    out, missing_all = [], failures.missing[0] >= net.sizes[0]
    for l in range(1, net.depth + 1):
        out.append(bool(missing_all))
        missing_all = missing_all or failures.missing[l] >= net.sizes[l]
    return out


def effective_failures(net: Network, failures: Failures) -> Failures:
    """The counts with silenced neurons (`silenced_layers`) counted as missing signals:
    a receiver of layer l + 1 may then miss every signal of a silenced layer l."""
    silenced = silenced_layers(net, failures)
    missing = list(failures.missing)
    for l, s in enumerate(silenced, start=1):
        if s:
            missing[l] = max(missing[l], net.sizes[l])
    return replace(failures, missing=tuple(missing))


def fault_model(setup: Setup) -> FaultModel:
    """The scenario's failures as at-most counts (quorum skips count as missing signals).

    A neuron that can be left without any signal is searched as a crashed one (what its
    receivers see): every neuron of such a layer may be.
    """
    net, f = setup.net, setup.failures
    counts = scenario_counts(setup.scenario, net)
    crash = [int(c) for c in counts["crash"]]
    byz = [int(z) for z in counts["byzantine"]]
    senders_crash = [0] + crash
    senders_byz = [0] + byz
    lost = [max(0, int(m) - c) for m, c in zip(f.missing, senders_crash)]
    corrupted = [max(0, int(z) - b) for z, b in zip(f.corrupted, senders_byz)]
    crash = [n if s else c for n, s, c in zip(net.sizes[1:], silenced_layers(net, f), crash)]
    return FaultModel(tuple(crash), tuple(byz), tuple(lost), tuple(corrupted),
                      tuple(float(e) for e in f.eta), float(f.capacity))


def derivative(net: Network, l: int, s: Array) -> Array:
    """phi_l'(s) elementwise (the slope of phi on the point interval [s, s])."""
    return net.phis[l - 1].slope(s, s)


@dataclass
class Batch:
    """B configurations, each with its input, output index and sign.

    x: (B, N_0). Per receiving layer l = 1..L+1 (index l-1), shapes (B, N_l, N_{l-1}):
    missing, replaced (bool), value (float in [-C, C], read where replaced),
    werr (float in [-eta_l, eta_l], or None when eta_l = 0). neuron_missing,
    neuron_replaced: the parts due to failed neurons (fixed during a climb;
    the rest are failed synapses, reselected). out, sign: (B,) int, +-1.
    """

    x: Array
    missing: list[Array]
    replaced: list[Array]
    value: list[Array]
    werr: list[Array | None]
    neuron_missing: list[Array]
    neuron_replaced: list[Array]
    out: Array
    sign: Array
    sets: list = field(default_factory=list)  # per element: the failed neurons

    def __len__(self) -> int:
        return len(self.x)

    def take(self, idx: Array) -> Batch:
        """The elements `idx` (copies)."""
        def sel(arrs):
            return [None if a is None else a[idx].copy() for a in arrs]
        return Batch(self.x[idx].copy(), sel(self.missing), sel(self.replaced), sel(self.value),
                     sel(self.werr), sel(self.neuron_missing), sel(self.neuron_replaced),
                     self.out[idx].copy(), self.sign[idx].copy(),
                     [self.sets[i] for i in np.atleast_1d(idx)])

    def put(self, mask: Array, other: Batch) -> None:
        """Overwrite the elements where `mask` (B,) with those of `other` (same length)."""
        self.x[mask] = other.x[mask]
        for mine, theirs in ((self.missing, other.missing), (self.replaced, other.replaced),
                             (self.value, other.value), (self.werr, other.werr)):
            for a, b in zip(mine, theirs):
                if a is not None:
                    a[mask] = b[mask]


def make_batch(net: Network, model: FaultModel, x: Array, sets: list, out: Array,
               sign: Array, value_pattern: list[str] | None = None) -> Batch:
    """A Batch from inputs x (B, N_0) and failed neurons per element.

    sets[b]: per hidden layer 1..L, (crashed indices, Byzantine indices).
    value_pattern[b]: how Byzantine senders start: "adv" (C * sign(W_ji)),
    "-adv", "+C" or "-C".
    """
    B, sizes, C = len(x), net.sizes, model.capacity
    value_pattern = value_pattern or ["adv"] * B
    nm, nr, val, werr = [], [], [], []
    for l in range(1, net.depth + 2):
        shape = (B, sizes[l], sizes[l - 1])
        miss = np.zeros(shape, dtype=bool)
        rep = np.zeros(shape, dtype=bool)
        if l >= 2:
            for b, s in enumerate(sets):
                crashed, byz = s[l - 2]
                miss[b, :, list(crashed)] = True
                rep[b, :, list(byz)] = True
        nm.append(miss)
        nr.append(rep)
        sgn = np.where(net.weights[l - 1] >= 0, 1.0, -1.0)
        patterns = {"adv": C * sgn, "-adv": -C * sgn, "+C": np.full(sgn.shape, C),
                    "-C": np.full(sgn.shape, -C)}
        val.append(np.stack([patterns[p] for p in value_pattern]))
        eta = model.eta[l - 1]
        werr.append(np.zeros(shape) if eta else None)
    return Batch(np.array(x, dtype=float), [m.copy() for m in nm], [r.copy() for r in nr],
                 val, werr, nm, nr, np.asarray(out, dtype=int), np.asarray(sign, dtype=float),
                 list(sets))


@dataclass
class Evaluation:
    """What `evaluate` returns for a Batch of B elements.

    error: (B,) max-norm output error. objective: (B,) sign * (F'_k - F_k).
    dx: (B, N_0). dvalue, dwerr: per layer (B, N_l, N_{l-1}) (dwerr None when
    eta_l = 0). ds: per layer, the gradient of the objective with respect to
    the faulty pre-activation, (B, N_l). y_faulty: per layer 0..L, (B, N_l).
    weights: per layer, the stored weights W + E, (B, N_l, N_{l-1}) or (N_l, N_{l-1}).
    """

    error: Array
    objective: Array
    dx: Array
    dvalue: list[Array]
    dwerr: list[Array | None]
    ds: list[Array]
    y_faulty: list[Array]
    weights: list[Array]


def evaluate(net: Network, batch: Batch, gradient: bool = True) -> Evaluation:
    """Forward both copies (fault-free and faulty) and backpropagate the objective."""
    L, B = net.depth, len(batch)
    ar = np.arange(B)
    # Fault-free copy.
    ys, ss = [batch.x], []
    for l, (W, b) in enumerate(zip(net.weights, net.biases), start=1):
        s = ys[-1] @ W.T + b
        ss.append(s)
        ys.append(net.phis[l - 1](s) if l <= L else s)
    # Faulty copy. As in the engines, a receiver to which no signal arrives never fires:
    # its receivers miss it, and an output that never fires is no error (-1).
    yf, sf, us, weff, arrived = [batch.x], [], [], [], []
    fired = np.ones((B, net.sizes[0]), dtype=bool)
    for l, (W, b) in enumerate(zip(net.weights, net.biases), start=1):
        arrives = fired[:, None, :] & ~batch.missing[l - 1]
        fired = arrives.any(axis=2)
        arrived.append(arrives)
        u = np.where(batch.replaced[l - 1], batch.value[l - 1], yf[-1][:, None, :])
        u = np.where(arrives, u, 0.0)
        We = W if batch.werr[l - 1] is None else W + batch.werr[l - 1]
        s = np.einsum("bji,bji->bj", np.broadcast_to(We, u.shape), u)  + b
        us.append(u)
        weff.append(We)
        sf.append(s)
        yf.append(net.phis[l - 1](s) if l <= L else s)
    diff = yf[-1] - ys[-1]
    blocked = ~fired.all(axis=1)
    error = np.where(blocked, -1.0, np.abs(diff).max(axis=1))
    objective = np.where(blocked, -1.0, batch.sign * diff[ar, batch.out])
    if not gradient:
        return Evaluation(error, objective, None, [], [], [], yf[:-1], weff)
    # Backpropagation: g = d objective / d (layer output), starting at the output.
    g_out = np.zeros_like(diff)
    g_out[ar, batch.out] = batch.sign
    g, gf = -g_out, g_out
    dvalue, dwerr, dss = [None] * (L + 1), [None] * (L + 1), [None] * (L + 1)
    for l in range(L + 1, 0, -1):
        W = net.weights[l - 1]
        gs = g if l > L else g * derivative(net, l, ss[l - 1])
        gsf = gf if l > L else gf * derivative(net, l, sf[l - 1])
        dss[l - 1] = gsf
        du = gsf[:, :, None] * weff[l - 1]  # (B, N_l, N_{l-1})
        dvalue[l - 1] = np.where(batch.replaced[l - 1] & arrived[l - 1], du, 0.0)
        if batch.werr[l - 1] is not None:
            dwerr[l - 1] = gsf[:, :, None] * us[l - 1]
        passes = arrived[l - 1] & ~batch.replaced[l - 1]
        gf = np.where(passes, du, 0.0).sum(axis=1)
        g = gs @ W
    return Evaluation(error, objective, g + gf, dvalue, dwerr, dss, yf[:-1], weff)
