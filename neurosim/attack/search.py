"""The falsifier: failed neurons by enumeration (or beam search), then input climbing.

1. Failed-neuron sets. Per hidden layer every crashed set of at most f_l
   neurons and Byzantine set of at most z_l (counts are upper limits, so
   smaller sets are searched too). When their product is at most
   `EXHAUSTIVE` every combination is screened; otherwise a beam search adds
   one failed neuron at a time and keeps the best `BEAM` sets.
2. Screening: every set on the start inputs (the scenario's inputs, the
   box's two extreme corners and random corners), Byzantine senders sending
   one of four value patterns; per set and output and sign, the best start.
3. Climbing: the best (set, output, sign, start) triples climb by projected
   sign-gradient ascent on the input box, the Byzantine values in [-C, C]
   and the weight errors in [-eta, eta]; failed synapses (lost or Byzantine,
   per receiver) are reselected every few steps by their first-order gain.

The result is a lower bound on the worst error: a configuration the engine
replays (see `neurosim.attack.witness`).
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass

import numpy as np

from neurosim.attack.faults import Batch, FaultModel, evaluate, make_batch
from neurosim.data.network import Network

Array = np.ndarray

EXHAUSTIVE = 100_000     # enumerate failed-neuron sets up to this many combinations
BEAM = 24                # sets kept per beam step
SCREEN_ROWS = 1_000_000  # (set, input) pairs screened at most (inputs are subsampled)
CHUNK_ROWS = 40_000      # (set, input) pairs per screening step (bounded memory)
CLIMBERS = 256           # triples that climb
STEPS = 200              # climbing steps
ROUNDS = 3               # climbing rounds, while the time allows
RESELECT = 10            # failed synapses are reselected every RESELECT steps
PATTERNS = ("adv", "-adv", "+C", "-C")

NeuronSet = tuple  # per hidden layer: (crashed indices, Byzantine indices)


def layer_options(n: int, f: int, z: int) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Every (crashed, Byzantine) pair of disjoint subsets of range(n), sizes <= f and <= z."""
    out = []
    for a in range(min(f, n) + 1):
        for crashed in itertools.combinations(range(n), a):
            rest = [i for i in range(n) if i not in crashed]
            for b in range(min(z, len(rest)) + 1):
                for byz in itertools.combinations(rest, b):
                    out.append((crashed, byz))
    return out


def count_sets(net: Network, model: FaultModel) -> int:
    """How many failed-neuron configurations the at-most counts allow."""
    total = 1
    for l in range(1, net.depth + 1):
        n, f, z = net.sizes[l], model.crash[l - 1], model.byzantine[l - 1]
        total *= sum(math.comb(n, a) * math.comb(n - a, b)
                     for a in range(min(f, n) + 1) for b in range(min(z, n - a) + 1))
    return total


def start_inputs(net: Network, inputs: Array | None, rng: np.random.Generator,
                 n_corners: int = 64) -> Array:
    """The scenario's inputs, the lowest and highest corners, and random corners: (P, N_0)."""
    lo, hi = net.input_low, net.input_high
    corners = np.where(rng.random((n_corners, len(lo))) < 0.5, lo, hi)
    parts = [lo[None, :], hi[None, :], corners]
    if inputs is not None and len(inputs):
        parts.insert(0, np.clip(inputs, lo, hi))
    return np.unique(np.concatenate(parts), axis=0)


def screen(net: Network, model: FaultModel, sets: list[NeuronSet], X: Array,
           pattern: str, deadline: float = np.inf) -> tuple[Array, Array]:
    """Best start per set, output and sign: (value (S, K, 2), input index (S, K, 2)).

    Failed neurons only (synapse-level failures come in the climb); Byzantine
    senders send `pattern` (see `make_batch`). value[..., 0] is the largest
    F'_k - F_k, value[..., 1] the largest F_k - F'_k. Sets not reached by the
    deadline keep -inf.
    """
    L, sizes, C = net.depth, net.sizes, model.capacity
    ys = net.layer_outputs(X) if len(X) else None  # fault-free, exact
    F = ys[-1]
    S, P, K = len(sets), len(X), sizes[-1]
    keep = [np.ones((S, n)) for n in sizes]
    byz = [np.zeros((S, n)) for n in sizes]
    # A layer all crashed leaves the next without a signal: the output never fires.
    blocked = np.zeros(S, dtype=bool)
    for s, per_layer in enumerate(sets):
        for l, (crashed, bz) in enumerate(per_layer, start=1):
            keep[l][s, list(crashed) + list(bz)] = 0.0
            byz[l][s, list(bz)] = 1.0
            blocked[s] |= len(crashed) == sizes[l]
    # Byzantine contribution into layer l from layer l-1: sum_i W_ji v_ji z_i.
    push = []
    for l in range(1, L + 2):
        W = net.weights[l - 1]
        sgn = np.where(W >= 0, 1.0, -1.0)
        v = {"adv": C * sgn, "-adv": -C * sgn, "+C": C, "-C": -C}[pattern]
        push.append(byz[l - 1] @ (W * v).T)  # (S, N_l)
    best = np.full((S, K, 2), -np.inf)
    arg = np.zeros((S, K, 2), dtype=int)
    chunk = max(1, CHUNK_ROWS // max(1, P))
    for c0 in range(0, S, chunk):
        if c0 and time.perf_counter() > deadline:
            break
        sl = slice(c0, min(S, c0 + chunk))
        y = np.broadcast_to(X, (sl.stop - sl.start, P, sizes[0]))
        for l in range(1, L + 2):
            W, b = net.weights[l - 1], net.biases[l - 1]
            s = (y * keep[l - 1][sl, None, :]) @ W.T + push[l - 1][sl, None, :] + b
            y = net.phis[l - 1](s) if l <= L else s
        d = y - F[None]  # (s, P, K)
        for k, sgn in ((0, 1.0), (1, -1.0)):
            v = sgn * d
            arg[sl, :, k] = v.argmax(axis=1)
            best[sl, :, k] = v.max(axis=1)
    best[blocked] = -np.inf
    return best, arg


def beam_sets(net: Network, model: FaultModel, X: Array, rng: np.random.Generator,
              deadline: float) -> list[NeuronSet]:
    """Failed-neuron sets grown one neuron at a time, the BEAM best kept at each step."""
    L = net.depth
    Xs = X if len(X) <= 48 else X[rng.choice(len(X), 48, replace=False)]
    empty = tuple(((), ()) for _ in range(L))
    beam, seen = [empty], {empty}
    found = [empty]
    for _ in range(sum(model.crash) + sum(model.byzantine)):
        if time.perf_counter() > deadline:
            break
        cand = []
        for s in beam:
            for l in range(1, L + 1):
                crashed, bz = s[l - 1]
                for kind, limit in ((0, model.crash[l - 1]), (1, model.byzantine[l - 1])):
                    if len(s[l - 1][kind]) >= limit:
                        continue
                    for i in range(net.sizes[l]):
                        if i in crashed or i in bz:
                            continue
                        layer = list(s[l - 1])
                        layer[kind] = tuple(sorted(layer[kind] + (i,)))
                        new = s[:l - 1] + (tuple(layer),) + s[l:]
                        if new not in seen:
                            seen.add(new)
                            cand.append(new)
        if not cand:
            break
        score = np.max([screen(net, model, cand, Xs, p)[0].max(axis=(1, 2))
                        for p in _patterns(model)], axis=0)
        order = np.argsort(-score)
        beam = [cand[i] for i in order[:BEAM]]
        found += beam
    return found


def _patterns(model: FaultModel) -> tuple[str, ...]:
    return PATTERNS if any(model.byzantine) else ("adv",)


@dataclass
class Found:
    """The best configuration of a search: one-element Batch and its max-norm error."""

    batch: Batch
    error: float
    sets_searched: int
    method: str


def search(net: Network, model: FaultModel, inputs: Array | None, seed: int,
           time_limit: float) -> Found:
    """Search failed sets and inputs for the largest output error (a lower bound)."""
    started = time.perf_counter()
    deadline = started + time_limit
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x61747461636B]))
    X = start_inputs(net, inputs, rng)
    total = count_sets(net, model)
    if total <= EXHAUSTIVE:
        sets = [tuple(p) for p in itertools.product(
            *[layer_options(net.sizes[l], model.crash[l - 1], model.byzantine[l - 1])
              for l in range(1, net.depth + 1)])]
        how = f"exhaustive over {total} failed-neuron sets"
    else:
        sets = beam_sets(net, model, X, rng, started + 0.4 * time_limit)
        how = f"beam search ({len(sets)} of {total:.3g} failed-neuron sets)"
    Xs = X
    if len(sets) * len(X) > SCREEN_ROWS:
        Xs = X[rng.choice(len(X), max(8, SCREEN_ROWS // len(sets)), replace=False)]
    # Triples (set, output, sign) with their best start and pattern.
    rows, screened = [], 0
    patterns = _patterns(model)
    for n_p, p in enumerate(patterns):
        screen_deadline = started + (0.5 * time_limit) * (n_p + 1) / len(patterns)
        best, arg = screen(net, model, sets, Xs, p, screen_deadline)
        screened = max(screened, int(np.isfinite(best.max(axis=(1, 2))).sum()))
        for s, k, t in zip(*np.unravel_index(np.argsort(-best, axis=None)[:4 * CLIMBERS],
                                             best.shape)):
            if np.isfinite(best[s, k, t]):
                rows.append((best[s, k, t], s, k, t, arg[s, k, t], p))
    rows.sort(key=lambda r: -r[0])
    per_set: dict[int, int] = {}
    ranking = []
    for r in rows:
        if per_set.get(r[1], 0) < 8:
            per_set[r[1]] = per_set.get(r[1], 0) + 1
            ranking.append(r)
    if screened < len(sets):
        how += f" (time for {screened} of them on {len(Xs)} start inputs)"
    # Rounds: the best-ranked triples from their best starts, then the next ones, then
    # the best again from random starts; while the time allows (at most ROUNDS).
    found, found_err, rounds = None, -np.inf, 0
    for rnd in range(ROUNDS):
        if rnd and time.perf_counter() > started + 0.6 * time_limit:
            break
        part = ranking[rnd * CLIMBERS:(rnd + 1) * CLIMBERS] if rnd < 2 else []
        fresh = not part
        part = part or ranking[:CLIMBERS]
        x0 = [X[rng.integers(len(X))] if fresh else Xs[r[4]] for r in part]
        # Few triples (e.g. only synapse failures): the same ones again from other starts.
        n_best = len(part)
        while len(part) < CLIMBERS:
            part.append(part[len(part) % n_best])
            x0.append(X[rng.integers(len(X))])
        batch = make_batch(net, model, np.array(x0), [sets[r[1]] for r in part],
                           np.array([r[2] for r in part]),
                           np.array([1.0 if r[3] == 0 else -1.0 for r in part]),
                           [r[5] for r in part])
        best = climb(net, model, batch, deadline)
        ev = evaluate(net, best, gradient=False)
        i = int(np.argmax(ev.error))
        rounds += 1
        if ev.error[i] > found_err:
            found, found_err = best.take(np.array([i])), float(ev.error[i])
    return Found(found, found_err, len(sets),
                 how + f"; projected gradient ascent on the input box ({rounds} rounds of "
                 f"{CLIMBERS} climbers)")


def reselect(net: Network, model: FaultModel, batch: Batch, ev) -> None:
    """Per receiver, the failed synapses with the largest first-order gain (if positive).

    Byzantine synapses first (value C * sign of the gain), then lost ones,
    among synapses whose sender has not failed.
    """
    C = model.capacity
    for l in range(1, net.depth + 2):
        lost_k, byz_k = model.lost[l - 1], model.corrupted[l - 1]
        if not (lost_k or byz_k):
            continue
        free = ~(batch.neuron_missing[l - 1] | batch.neuron_replaced[l - 1])
        a = ev.ds[l - 1][:, :, None] * ev.weights[l - 1]  # d obj / d u_ji
        y = ev.y_faulty[l - 1][:, None, :]
        rep = batch.neuron_replaced[l - 1].copy()
        if byz_k:
            gain = np.where(free, C * np.abs(a) - a * y, -np.inf)
            pick = _top_positive(gain, byz_k)
            batch.value[l - 1] = np.where(pick, C * np.sign(a), batch.value[l - 1])
            rep |= pick
            free &= ~pick
        batch.replaced[l - 1] = rep
        miss = batch.neuron_missing[l - 1].copy()
        if lost_k:
            gain = np.where(free, -a * y, -np.inf)
            pick = _top_positive(gain, lost_k)
            # A receiver left without any signal never fires: an output then gives no
            # error, and a hidden neuron is a crash (searched with the failed sets). It
            # keeps the signal whose loss gains least.
            dead = (miss | pick).all(axis=2) & pick.any(axis=2)
            if dead.any():
                keep = np.argmin(np.where(pick, gain, np.inf), axis=2)
                b, j = np.nonzero(dead)
                pick[b, j, keep[b, j]] = False
            miss |= pick
        batch.missing[l - 1] = miss


def _top_positive(gain: Array, k: int) -> Array:
    """Bool mask of the (at most) k largest positive entries along the last axis."""
    n = gain.shape[-1]
    k = min(k, n)
    idx = np.argpartition(-gain, k - 1, axis=-1)[..., :k]
    mask = np.zeros(gain.shape, dtype=bool)
    np.put_along_axis(mask, idx, True, axis=-1)
    return mask & (gain > 0)


def climb(net: Network, model: FaultModel, batch: Batch, deadline: float,
          steps: int = STEPS) -> Batch:
    """Projected sign-gradient ascent; returns each element's best configuration."""
    lo, hi = net.input_low, net.input_high
    width = hi - lo
    C = model.capacity
    best = batch.take(np.arange(len(batch)))
    best_err = evaluate(net, best, gradient=False).error
    for t in range(steps):
        ev = evaluate(net, batch)
        better = ev.error > best_err
        if better.any():
            best.put(better, batch)
            best_err = np.where(better, ev.error, best_err)
        if time.perf_counter() > deadline:
            break
        if model.synapse_level and t % RESELECT == 0:
            reselect(net, model, batch, ev)
            ev = evaluate(net, batch)
        step = 0.25 * (0.004 ** (t / max(1, steps - 1)))  # geometric decay 0.25 -> 0.001
        batch.x = np.clip(batch.x + step * width * np.sign(ev.dx), lo, hi)
        for l in range(1, net.depth + 2):
            if C > 0:
                batch.value[l - 1] = np.clip(
                    batch.value[l - 1] + step * 2 * C * np.sign(ev.dvalue[l - 1]), -C, C)
            eta = model.eta[l - 1]
            if batch.werr[l - 1] is not None:
                batch.werr[l - 1] = np.clip(
                    batch.werr[l - 1] + step * 2 * eta * np.sign(ev.dwerr[l - 1]), -eta, eta)
    ev = evaluate(net, batch, gradient=False)
    better = ev.error > best_err
    best.put(better, batch)
    return best
