"""Everything random in one trial, drawn before any engine runs (docs/semantics.md).

A trial's draws come from one Generator seeded by SeedSequence(seed,
spawn_key=(trial,)) and are taken in a fixed order: failed neurons, failed
synapses, Byzantine values, weight errors, stragglers, latencies. No draw
depends on the order in which an engine processes events, so the SimPy
engine and the vectorised one see identical trials, whatever the worker or
machine.

Failures live in the channels, as data: what each synapse delivers (lost,
replaced) and when. The engines only apply them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from neurosim.data.counts import per_layer
from neurosim.data.network import Network
from neurosim.data.quantize import (
    beyond_precision,
    stored_weights,
    total_precision,
    within_precision,
)
from neurosim.data.random_failures import probabilities
from neurosim.data.scenario import Scenario
from neurosim.engines.latency import load_empirical, make_latency
from neurosim.errors import InputError

Array = np.ndarray

# A trial with at most this many delays draws them in one call (`Planner.latency_block`).
ONE_CALL_DELAYS = 65536
# Trials whose delays are drawn before they are split into the layers' arrays.
STAGED = 32


@dataclass(frozen=True)
class FiringRule:
    """When a neuron of layer l fires (docs/semantics.md, "Firing rules").

    quorum[l-1]: signals needed by layer l (None: all of them).
    timeout: the longest wait, from the first signal (or from time 0 if
    `timeout_from_start`); None: no timeout. A neuron also fires as soon as
    every signal has arrived.
    """

    quorum: list[int] | None
    timeout: float | None
    timeout_from_start: bool
    processing: float
    horizon: float

    @classmethod
    def from_scenario(cls, scn: Scenario, quorum: list[int] | None) -> FiringRule:
        f = scn.firing
        return cls(
            quorum=quorum if "quorum" in f.rule else None,
            timeout=f.timeout if "timeout" in f.rule else None,
            timeout_from_start=f.timeout_from == "start",
            processing=scn.latency.processing,
            horizon=f.horizon,
        )


@dataclass(frozen=True)
class TrialPlan:
    """The draws of one trial. Per layer lists are indexed l-1 for layers 1..L+1.

    x: the input, (N_0,).
    crashed[l]: bool (N_l,) for l = 0..L+1 (only hidden layers ever crash).
    crash_time: time from which crashed neurons stop sending (0: never send).
    byzantine[l]: bool (N_l,), l = 0..L+1.
    lost[l-1]: bool (N_l, N_{l-1}), message on synapse (j <- i) is lost.
    replaced[l-1]: bool (N_l, N_{l-1}), value on (j <- i) is replaced (Byzantine
    sender or synapse).
    value[l-1]: float (N_l, N_{l-1}), the replacing values in [-C, C].
    weights[l-1]: W^(l) as stored (quantized, with the precision error), (N_l, N_{l-1}).
    latency[l-1]: float (N_l, N_{l-1}), delay of the message j <- i, stragglers
    included.
    """

    trial: int
    input_index: int
    x: Array
    crashed: list[Array]
    crash_time: float
    byzantine: list[Array]
    lost: list[Array]
    replaced: list[Array]
    value: list[Array]
    weights: list[Array]
    latency: list[Array]


def trial_rng(seed: int, trial: int) -> np.random.Generator:
    """The Generator of trial `trial` of a scenario with seed `seed`."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(trial,)))


# numpy's SeedSequence (O'Neill's seed_seq_fe, pool of 4 words) and PCG64 seeding
# constants, as numpy's own source defines them.
_M32 = 0xFFFFFFFF
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_PCG_MULT = 0x2360ED051FC65DA44385DF649FCCF645
_M128 = (1 << 128) - 1


def _words(n: int) -> list[int]:
    """A non-negative int as numpy's SeedSequence reads it: 32-bit words, lowest first."""
    out = [n & _M32]
    n >>= 32
    while n:
        out.append(n & _M32)
        n >>= 32
    return out


class TrialStreams:
    """The Generators of a scenario's trials, `trial_rng(seed, trial)` bit for bit, cheaply.

    Building a Generator from a SeedSequence costs about 13 us, as much as a small
    network's whole simulated trial. What SeedSequence(seed, spawn_key=(trial,))
    computes is numpy's documented, stream-stable algorithm: the seed's words are
    mixed into a pool of four 32-bit words (the same for every trial), then the
    trial's word, then four 64-bit words are drawn from the pool, and PCG64 takes
    them as its 128-bit state and increment. Here the part the trials share is
    computed once, the rest for a block of trials at once (numpy uint32
    arithmetic wraps as the C code's does), and one Generator is set to each
    trial's PCG64 state in turn. tests/test_plan_block.py checks the states against
    numpy's own SeedSequence and PCG64.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = np.random.Generator(np.random.PCG64(0))
        h = _INIT_A

        def hashmix(value: int) -> int:
            nonlocal h
            value ^= h
            h = (h * _MULT_A) & _M32
            value = (value * h) & _M32
            return value ^ (value >> 16)

        # A spawn key pads the seed's words with zeros to the pool size.
        entropy = _words(seed)
        entropy += [0] * (4 - len(entropy))
        pool = [hashmix(w) for w in entropy[:4]]
        for src in range(4):
            for dst in range(4):
                if src != dst:
                    pool[dst] = _mix(pool[dst], hashmix(pool[src]))
        for w in entropy[4:]:
            for dst in range(4):
                pool[dst] = _mix(pool[dst], hashmix(w))
        self.pool, self.hash_const = pool, h
        # numpy documents these streams as stable; should a numpy ever seed otherwise,
        # its own (slower) seeding is used, so a trial's stream is always numpy's.
        probe = [0, 1, 65_537]
        self.exact = self._mixed_states(probe) == [self._numpy_state(t) for t in probe]

    def states(self, trials: Sequence[int]) -> list[tuple[int, int]]:
        """PCG64's (state, increment) of each trial, as numpy seeds it."""
        t = np.asarray(trials, dtype=np.int64)
        if not self.exact or (len(t) and (t.min() < 0 or t.max() > _M32)):
            return [self._numpy_state(int(i)) for i in t]
        return self._mixed_states(t)

    def _mixed_states(self, trials: Sequence[int]) -> list[tuple[int, int]]:
        """The states as numpy's seeding arithmetic gives them, a block of trials at once."""
        t = np.asarray(trials, dtype=np.int64)
        u32 = np.uint32
        word = t.astype(u32)
        h = self.hash_const
        pool = [np.full(len(t), p, dtype=u32) for p in self.pool]
        for dst in range(4):  # the trial's one word, mixed into each pool word
            v = word ^ u32(h)
            h = (h * _MULT_A) & _M32
            v = v * u32(h)
            v ^= v >> u32(16)
            pool[dst] = pool[dst] * u32(_MIX_L) - v * u32(_MIX_R)
            pool[dst] ^= pool[dst] >> u32(16)
        h = _INIT_B
        out = []
        for i in range(8):  # generate_state(4, uint64): eight 32-bit words
            v = pool[i % 4] ^ u32(h)
            h = (h * _MULT_B) & _M32
            v = v * u32(h)
            v ^= v >> u32(16)
            out.append(v.astype(np.uint64))
        w64 = [out[2 * k] | (out[2 * k + 1] << np.uint64(32)) for k in range(4)]
        result = []
        for a, b, c, d in zip(*(w.tolist() for w in w64), strict=True):
            # pcg64_set_seed: state (a, b), sequence (c, d), high word first; then
            # pcg_setseq_128_srandom_r.
            inc = (((c << 64) | d) << 1 | 1) & _M128
            state = (inc + ((a << 64) | b)) & _M128
            result.append(((state * _PCG_MULT + inc) & _M128, inc))
        return result

    def _numpy_state(self, trial: int) -> tuple[int, int]:
        s = np.random.PCG64(np.random.SeedSequence(self.seed, spawn_key=(trial,))).state
        return s["state"]["state"], s["state"]["inc"]

    def generators(self, trials: Sequence[int]) -> Iterator[np.random.Generator]:
        """For each trial in turn, one Generator (the same object, reset) in its state:
        use it before asking for the next."""
        bg = self.rng.bit_generator
        for state, inc in self.states(trials):
            bg.state = {"bit_generator": "PCG64", "state": {"state": state, "inc": inc},
                        "has_uint32": 0, "uinteger": 0}
            yield self.rng


def _mix(x: int, y: int) -> int:
    r = (_MIX_L * x - _MIX_R * y) & _M32
    return r ^ (r >> 16)


def latency_model(scn: Scenario):
    """The scenario's latency model object (has `sample(rng, size)`).

    A missing or invalid empirical delay file is an InputError naming latency.file.
    """
    spec = scn.latency
    if spec.model == "empirical":
        try:
            return load_empirical(scn.path(spec.file))
        except ValueError as err:
            raise InputError(scn.source, "latency.file", str(err)) from None
    params = {"constant": ["mean"], "exponential": ["mean"], "lognormal": ["mean", "sigma"],
              "pareto": ["mean", "alpha"], "uniform": ["mean", "low", "high"]}[spec.model]
    kwargs = {k: getattr(spec, k) for k in params if getattr(spec, k) is not None}
    if spec.model == "uniform" and spec.low is not None and spec.high is not None:
        kwargs.pop("mean", None)
    try:
        return make_latency(spec.model, **kwargs)
    except ValueError as err:  # a parameter the model cannot take (a traceback, exit 1)
        if "mean" in kwargs:
            key = "latency.mean"
            if spec.model == "uniform":  # [0, 2 mean]: 2 mean overflows from 9e307 on
                err = f"uniform with mean {spec.mean:g} draws in [0, 2 mean]: {err}"
        else:
            key = "latency"
        raise InputError(scn.source, key, str(err)) from None


def _choose(rng: np.random.Generator, n: int, k: int, exclude: Array | None = None) -> Array:
    """Bool mask (n,) with k entries set, chosen uniformly among the not-excluded ones first."""
    mask = np.zeros(n, dtype=bool)
    if k <= 0:
        return mask
    free = np.flatnonzero(~exclude) if exclude is not None else np.arange(n)
    if k > len(free):  # not enough free neurons: take the excluded ones too
        free = np.arange(n)
    mask[rng.choice(free, size=k, replace=False)] = True
    return mask


def _choose_rows(rng: np.random.Generator, shape: tuple[int, int], k: int,
                 exclude: Array) -> Array:
    """Bool (n_receivers, n_senders): k senders per receiver, avoiding `exclude` (same shape)."""
    out = np.zeros(shape, dtype=bool)
    if k <= 0:
        return out
    for j in range(shape[0]):
        out[j] = _choose(rng, shape[1], k, exclude[j])
    return out


def _frozen(a: Array) -> Array:
    """`a`, read-only: shared by every trial's plan, so no engine may write to it."""
    a.flags.writeable = False
    return a


def _largest(values: Array, k: int, exclude: Array | None = None) -> Array:
    """Bool mask of the k largest |values| (ties by index), outside `exclude`."""
    order = np.argsort(-np.abs(values), kind="stable")
    if exclude is not None:
        order = order[~exclude[order]]
    mask = np.zeros(len(values), dtype=bool)
    mask[order[:k]] = True
    return mask


class Planner:
    """Draws TrialPlans for a scenario. Holds only what every trial shares."""

    def __init__(self, scn: Scenario, net: Network, inputs: Array) -> None:
        self.scn, self.net, self.inputs = scn, net, inputs
        self.latency = latency_model(scn)
        f, L = scn.failures, net.depth
        self.crash = per_layer(f.crash, L, "crash")
        self.byz = per_layer(f.byzantine, L, "byzantine")
        self.stragglers = per_layer(f.stragglers, L, "stragglers")
        self.syn_crash = per_layer(f.synapse_crash, L + 1, "synapse_crash")
        self.syn_byz = per_layer(f.synapse_byzantine, L + 1, "synapse_byzantine")
        self.syn_straggle = per_layer(f.synapse_stragglers, L + 1, "synapse_stragglers")
        self.eta = per_layer(f.precision, L + 1, "precision")
        self.stored = stored_weights(net, f.bits)  # quantized once, the same in every trial
        # The weight error the bounds allow per layer (precision plus quantization): a
        # stored weight plus its drawn error is kept within it of W, exactly.
        self.bound_eta = total_precision(net, f.precision, f.bits)
        self.p_crash, self.p_synapse = probabilities(scn, net)
        self.listed_crash = self._listed(f.crashed)
        self.listed_byz = self._listed(f.byzantine_list)
        self.pinned = load_pinned(scn, net) if f.pinned else {}
        # What every trial shares, made once (read-only): all-False masks per weight
        # layer, and the Byzantine values when they are not drawn.
        sizes = net.sizes
        self.no_neuron = [_frozen(np.zeros(n, dtype=bool)) for n in sizes]
        self.none = [_frozen(np.zeros((sizes[l], sizes[l - 1]), dtype=bool))
                     for l in range(1, net.depth + 2)]
        C = f.capacity
        if f.byzantine_mode == "adversarial":
            # Push every receiver's pre-activation the same way: +C through a
            # positive weight, -C through a negative one.
            self.fixed_value = [_frozen(C * np.where(W >= 0, 1.0, -1.0)) for W in net.weights]
        elif f.byzantine_mode == "constant":
            self.fixed_value = [_frozen(np.full(W.shape, C)) for W in net.weights]
        else:
            self.fixed_value = None
        self.streams = TrialStreams(scn.seed)
        # Whether a trial draws nothing but its delays (steps 1-5 of `plan` draw nothing
        # and give every trial the same arrays): then a block's plan is its delays alone
        # (`latency_block`).
        self.latencies_only = (
            not any(self.p_crash) and not any(self.p_synapse)
            and (f.placement == "list" or (not any(self.crash) and not any(self.byz)))
            and not any(self.syn_crash) and not any(self.syn_byz)
            and self.fixed_value is not None and not any(self.eta)
            and not any(self.stragglers) and not any(self.syn_straggle))

    def _listed(self, pairs) -> list[Array]:
        masks = [np.zeros(n, dtype=bool) for n in self.net.sizes]
        for layer, index in pairs or []:
            masks[layer][index] = True
        return [_frozen(m) for m in masks]

    def plans(self, trials: Sequence[int]) -> Iterator[TrialPlan]:
        """`plan(t)` for each trial t in turn (the Generators made a block at a time)."""
        for trial, rng in zip(trials, self.streams.generators(trials), strict=True):
            yield self.plan(trial, rng)

    @cached_property
    def shared_plan(self) -> TrialPlan:
        """Where a trial draws nothing but its delays (`latencies_only`), the fields every
        trial shares: `plan(0, delays=False)`, made once."""
        return self.plan(0, delays=False)

    def latency_block(self, trials: Sequence[int]) -> list[Array]:
        """The delays of a block of trials that draw nothing else (`latencies_only`):
        per layer l = 1..L+1, (B, N_l, N_{l-1}), row b the `latency` of `plan(trials[b])`,
        bit for bit.

        A trial's delays are drawn layer by layer, in the layers' order, one call a layer,
        as `plan` draws them, straight into the block's arrays (`sample_into`); a
        `sequential` model draws a small network's in one call.
        """
        sizes = self.net.sizes
        shapes = [(sizes[l], sizes[l - 1]) for l in range(1, len(sizes))]
        ends = np.cumsum([0] + [a * b for a, b in shapes]).tolist()
        B = len(trials)
        outs = [np.empty((B, *shape)) for shape in shapes]
        # A small network's delays in one call a trial (the calls cost more than the
        # copies there: 3 us a trial on digits), where the calls can merge: STAGED trials'
        # rows at a time, then split into the layers' arrays while they are in the cache
        # (a copy a trial and layer cost 7 us a trial on digits; the whole block's rows at
        # once, 5: 11 MB went through memory).
        if self.latency.sequential and ends[-1] <= ONE_CALL_DELAYS:
            streams = self.streams.generators(trials)
            stage = np.empty((min(B, STAGED), ends[-1]))
            for first in range(0, B, STAGED):
                rows = stage[:min(STAGED, B - first)]
                self.latency.sample_rows(streams, rows)
                for out, shape, start, stop in zip(outs, shapes, ends, ends[1:], strict=False):
                    out[first:first + len(rows)] = rows[:, start:stop].reshape(-1, *shape)
            return outs
        for b, rng in enumerate(self.streams.generators(trials)):
            for out in outs:
                self.latency.sample_into(rng, out[b])
        return outs

    def plan(self, trial: int, rng: np.random.Generator | None = None,
             delays: bool = True) -> TrialPlan:
        """Trial `trial`'s draws; rng: its Generator (`trial_rng`), if already made.

        delays False: without the last step (`latency` is empty), for the fields a block
        of trials that draw only their delays shares (`latency_block`).
        """
        scn, net, sizes, L = self.scn, self.net, self.net.sizes, self.net.depth
        f = scn.failures
        if rng is None:
            rng = trial_rng(scn.seed, trial)
        input_index = trial % len(self.inputs)
        x = self.inputs[input_index]

        # 1. Failed neurons, per hidden layer; Byzantine ones disjoint from crashed ones.
        crashed, byzantine = list(self.no_neuron), list(self.no_neuron)
        if f.placement == "list":
            crashed, byzantine = self.listed_crash, self.listed_byz
        else:
            ys = net.layer_outputs(x) if f.placement == "worst" else None
            for l in range(1, L + 1):
                p = self.p_crash[l - 1]
                if not p and not self.crash[l - 1] and not self.byz[l - 1]:
                    continue  # nothing to choose, nothing drawn
                if p > 0:  # random failures: each neuron on its own (no count given)
                    crashed[l] = rng.random(sizes[l]) < p
                elif ys is not None:
                    crashed[l] = _largest(ys[l], self.crash[l - 1])
                else:
                    crashed[l] = _choose(rng, sizes[l], self.crash[l - 1])
                if ys is not None:
                    byzantine[l] = _largest(ys[l], self.byz[l - 1], crashed[l])
                else:
                    byzantine[l] = _choose(rng, sizes[l], self.byz[l - 1], crashed[l])
                if p > 0:  # too few correct neurons left: the Byzantine ones do not crash
                    crashed[l] &= ~byzantine[l]

        # 2. Failed synapses, per receiver, among synapses from correct senders.
        lost, replaced = [], []
        for l in range(1, L + 2):
            shape = (sizes[l], sizes[l - 1])
            n_lost, n_byz, q = self.syn_crash[l - 1], self.syn_byz[l - 1], self.p_synapse[l - 1]
            if n_lost > 0 or n_byz > 0 or q > 0:
                faulty = np.broadcast_to(crashed[l - 1] | byzantine[l - 1], shape)
                if q > 0:  # random failures: each synapse from a correct sender on its own
                    lost.append((rng.random(shape) < q) & ~faulty)
                else:
                    lost.append(_choose_rows(rng, shape, n_lost, faulty))
                syn_byz = _choose_rows(rng, shape, n_byz, faulty | lost[-1])
                replaced.append(syn_byz | byzantine[l - 1][None, :])
            else:  # no draw: nothing to choose
                lost.append(self.none[l - 1])
                replaced.append(self.none[l - 1] | byzantine[l - 1][None, :]
                                if byzantine[l - 1].any() else self.none[l - 1])

        # 3. What Byzantine senders and synapses deliver, in [-C, C].
        C = f.capacity
        if self.fixed_value is not None:  # adversarial or constant: nothing drawn
            value = list(self.fixed_value)  # (a pinned layer replaces its entry below)
        else:
            value = [rng.uniform(-C, C, (sizes[l], sizes[l - 1])) for l in range(1, L + 2)]

        # 4. Stored weights (quantized with `bits`), each off by +-eta (the largest error
        # the precision allows).
        weights = []
        for l in range(1, L + 2):
            W, eta = self.stored[l - 1], self.eta[l - 1]
            weights.append(within_precision(W + eta * rng.choice([-1.0, 1.0], size=W.shape),
                                            net.weights[l - 1], self.bound_eta[l - 1])
                           if eta else W)

        # Pinned synapses, values and weights replace the draws (which are still
        # taken, so that the latencies below stay those of the unpinned scenario).
        pin = self.pinned
        for l in range(1, L + 2):
            if f"lost{l}" in pin:
                lost[l - 1] = pin[f"lost{l}"]
            if f"replaced{l}" in pin:
                replaced[l - 1] = pin[f"replaced{l}"] | byzantine[l - 1][None, :]
            if f"value{l}" in pin:
                value[l - 1] = pin[f"value{l}"]
            if f"weights{l}" in pin:
                weights[l - 1] = pin[f"weights{l}"]

        # 5. Stragglers: neurons whose messages all take `factor` times longer, and slow synapses.
        slow = [None] * len(sizes)
        for l in range(1, L + 1):
            if self.stragglers[l - 1] > 0:
                slow[l] = _choose(rng, sizes[l], self.stragglers[l - 1])
        slow_syn = [_choose_rows(rng, (sizes[l], sizes[l - 1]), self.syn_straggle[l - 1],
                                 self.none[l - 1]) if self.syn_straggle[l - 1] > 0 else None
                    for l in range(1, L + 2)]

        # 6. Latencies of every message.
        latency = []
        for l in range(1, L + 2 if delays else 1):
            lat = self.latency.sample(rng, (sizes[l], sizes[l - 1]))
            slow_l = slow[l - 1]
            if slow_l is not None or slow_syn[l - 1] is not None:
                mask = self.none[l - 1]
                if slow_l is not None:
                    mask = mask | slow_l[None, :]
                if slow_syn[l - 1] is not None:
                    mask = mask | slow_syn[l - 1]
                lat = lat * np.where(mask, f.straggler_factor, 1.0)
            latency.append(lat)

        return TrialPlan(trial, input_index, x, crashed,
                         f.crash_time if f.crash_time is not None else 0.0,
                         byzantine, lost, replaced, value, weights, latency)


def load_pinned(scn: Scenario, net: Network) -> dict[str, Array]:
    """The arrays of `failures.pinned` (a .npz), checked against the network.

    Per receiving layer l = 1..L+1, each optional, shape (N_l, N_{l-1}):
    `lost{l}` (bool) messages lost, `replaced{l}` (bool) Byzantine synapses,
    `value{l}` what every replaced signal (Byzantine sender or synapse)
    delivers, in [-C, C], and `weights{l}` the stored weights, within the
    layer's precision eta of W^(l).
    """
    key, path = "failures.pinned", scn.path(scn.failures.pinned)
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputError(scn.source, key, f"file not found: {path}") from None
    except Exception as err:
        raise InputError(scn.source, key, f"cannot read {path} ({err})") from None
    # Pinned weights must be within the eta the bounds take (precision plus quantization),
    # exactly: a weight a few ulps beyond it, with precision 0, broke a given-set bound of 0.
    eta = total_precision(net, scn.failures.precision, scn.failures.bits)
    C = scn.failures.capacity
    out = {}
    with data:
        for name in data.files:
            kind, layer = name.rstrip("0123456789"), name[len(name.rstrip("0123456789")):]
            if kind not in ("lost", "replaced", "value", "weights") or not layer or \
                    not 1 <= int(layer) <= net.depth + 1:
                raise InputError(scn.source, key, f"{path}: unexpected array {name!r} "
                                 f"(lost, replaced, value, weights 1..{net.depth + 1})")
            l = int(layer)
            W = net.weights[l - 1]
            try:
                a = np.asarray(data[name])
            except Exception as err:  # an object array, which would need pickle
                raise InputError(scn.source, key, f"{path}: {name} cannot be read "
                                 f"({err})") from None
            # A mask is booleans, values and weights real numbers: a float mask (0.5?)
            # or a complex value (its imaginary part dropped) was read as something else.
            wanted = "b" if kind in ("lost", "replaced") else "iuf"
            if a.dtype.kind not in wanted:
                raise InputError(scn.source, key, f"{path}: {name} must hold "
                                 f"{'booleans' if wanted == 'b' else 'real numbers'}, "
                                 f"got dtype {a.dtype}")
            if a.shape != W.shape:
                raise InputError(scn.source, key, f"{path}: {name} has shape {a.shape}, "
                                 f"expected {W.shape}")
            if kind in ("lost", "replaced"):
                a = a.astype(bool)
            else:
                a = a.astype(float)
                if not np.all(np.isfinite(a)):
                    raise InputError(scn.source, key, f"{path}: {name} contains NaN or inf")
            if kind == "value" and np.any(np.abs(a) > C):
                raise InputError(scn.source, key, f"{path}: {name} leaves [-C, C], C = {C:g}")
            if kind == "weights" and np.any(beyond_precision(a, W, eta[l - 1])):
                raise InputError(scn.source, key, f"{path}: {name} is more than the "
                                 f"precision {eta[l - 1]:g} away from W{l}")
            out[name] = a
    return out
