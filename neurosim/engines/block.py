"""The batched vectorised engine: a block of trials at once, arrays with a leading trial axis.

Each trial's draws still come from its own TrialPlan (one Generator per
trial, `Planner.plan`), so a trial's outcome does not depend on the block it
ran in: the same fire times, used signals and output bits as `simulate_fast`
and the SimPy engine. The plans are stacked (`stack_plans`) and every layer
then goes through one compiled pass over each receiver's row
(`neurosim.engines.kernels.receive_layer`), with numpy over (trials,
receivers) for what depends on a receiver alone.

The same quantities as `TrialOutcome`, for B trials at once, are in
`BlockOutcome`; `stack_outcomes` builds one from per-trial outcomes (the
SimPy engine), so the runner handles both engines' results alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from neurosim.data.network import Network
from neurosim.data.signals import CORRECT, CORRUPTED, MISSING
from neurosim.engines.outcome import TrialOutcome
from neurosim.engines.plan import FiringRule, Planner, TrialPlan

Array = np.ndarray

MESSAGES = ("sent", "received", "lost", "in_flight", "used", "wasted")


@dataclass(frozen=True)
class BlockPlan:
    """B trials' plans stacked: each TrialPlan field with a leading trial axis.

    A field every trial shares (the same array object: no failed neuron or
    synapse, adversarial or constant Byzantine values, exact weights) has no
    trial axis: (N_l,) or (N_l, N_{l-1}) instead of (B, N_l)
    or (B, N_l, N_{l-1}); either way it broadcasts against the block's arrays.
    crash_time is the scenario's, the same for every trial.
    """

    trials: Array
    input_index: Array
    x: Array
    crashed: list[Array]
    crash_time: float
    byzantine: list[Array]
    lost: list[Array]
    replaced: list[Array]
    value: list[Array]
    weights: list[Array]
    latency: list[Array]

    def __len__(self) -> int:
        return len(self.trials)

    def trial_plan(self, b: int) -> TrialPlan:
        """The b-th trial's TrialPlan (views into the block's arrays)."""

        def pick(arrays: list[Array], ndim: int) -> list[Array]:
            return [a[b] if a.ndim == ndim + 1 else a for a in arrays]

        return TrialPlan(int(self.trials[b]), int(self.input_index[b]), self.x[b],
                         pick(self.crashed, 1), self.crash_time, pick(self.byzantine, 1),
                         pick(self.lost, 2), pick(self.replaced, 2), pick(self.value, 2),
                         pick(self.weights, 2), pick(self.latency, 2))


class _Column:
    """One field of one layer, filled trial by trial: an array every trial of the block
    shares (the very same object: the network's weights, the Planner's all-False masks)
    stays one array; otherwise every trial's goes to a (B, ...) buffer, copied in while
    it is fresh in the cache."""

    def __init__(self, n: int, share: bool = True) -> None:
        self.n, self.share, self.shared, self.buf = n, share, None, None

    def put(self, b: int, a: Array) -> None:
        if self.buf is None:
            if b == 0 and self.share:
                self.shared = a
                return
            if a is self.shared:
                return
            self.buf = np.empty((self.n, *a.shape), dtype=a.dtype)
            if self.shared is not None:  # trials before this one shared an array
                self.buf[:b] = self.shared
        self.buf[b] = a

    def value(self) -> Array:
        return self.buf if self.buf is not None else self.shared


class BlockBuilder:
    """Collects the TrialPlans of a block, in trial order, into one BlockPlan."""

    PER_NEURON = ("crashed", "byzantine")
    PER_SYNAPSE = ("lost", "replaced", "value", "weights", "latency")

    def __init__(self, n: int, n_layers: int) -> None:
        self.n, self.count = n, 0
        self.trials = np.empty(n, dtype=np.int64)
        self.input_index = np.empty(n, dtype=np.int64)
        self.x = _Column(n, share=False)  # the inputs always have a trial axis
        self.columns = {name: [_Column(n) for _ in range(n_layers + 1)]
                        for name in self.PER_NEURON}
        self.columns.update({name: [_Column(n) for _ in range(n_layers)]
                             for name in self.PER_SYNAPSE})
        self.crash_time: float | None = None

    def add(self, plan: TrialPlan) -> None:
        b = self.count
        if self.crash_time is None:
            self.crash_time = plan.crash_time
        elif plan.crash_time != self.crash_time:
            raise ValueError("a block's trials must share the crash time")
        self.trials[b], self.input_index[b] = plan.trial, plan.input_index
        self.x.put(b, plan.x)
        for name, columns in self.columns.items():
            for column, a in zip(columns, getattr(plan, name), strict=True):
                column.put(b, a)
        self.count += 1

    def build(self) -> BlockPlan:
        if self.count != self.n:
            raise ValueError(f"block of {self.n} trials got {self.count}")
        fields = {name: [c.value() for c in columns] for name, columns in self.columns.items()}
        return BlockPlan(trials=self.trials, input_index=self.input_index, x=self.x.value(),
                         crash_time=self.crash_time, **fields)


def plan_block(planner: Planner, trials: range) -> BlockPlan:
    """The BlockPlan of `trials` (in order): `stack_plans` of their `Planner.plan`s.

    Where a trial draws nothing but its delays (`Planner.latencies_only`), every field
    but the input and the delays is the first trial's, shared, and the delays are
    drawn straight into the block's arrays (`Planner.latency_block`).
    """
    if not planner.latencies_only:
        builder = BlockBuilder(len(trials), planner.net.depth + 1)
        for plan in planner.plans(trials):
            builder.add(plan)
        return builder.build()
    first = planner.shared_plan
    index = np.arange(trials.start, trials.stop, dtype=np.int64)
    input_index = index % len(planner.inputs)
    return BlockPlan(trials=index, input_index=input_index, x=planner.inputs[input_index],
                     crashed=first.crashed, crash_time=first.crash_time,
                     byzantine=first.byzantine, lost=first.lost, replaced=first.replaced,
                     value=first.value, weights=first.weights,
                     latency=planner.latency_block(trials))


def _join(arrays: Sequence[Array], ndim: int, counts: Sequence[int]) -> Array:
    """One field of consecutive blocks along the trial axis: a shared array (no trial
    axis, ndim dimensions) stays shared where every block has the very same object."""
    if all(a is arrays[0] for a in arrays):
        return arrays[0]
    return np.concatenate([a if a.ndim > ndim else np.broadcast_to(a, (n, *a.shape))
                           for a, n in zip(arrays, counts, strict=True)])


def join_blocks(parts: Sequence[tuple[BlockPlan, BlockOutcome]]
                ) -> tuple[BlockPlan, BlockOutcome]:
    """Consecutive blocks (in trial order) as one block, for the work after the
    simulation: the plans' fields and the outcomes joined along the trial axis.

    The joined plan has no delays (`latency` is empty): the simulation has used them,
    and a block's delays are its largest arrays.
    """
    if len(parts) == 1:
        bp, out = parts[0]
        return replace(bp, latency=[]), out
    plans, outs = [p for p, _ in parts], [o for _, o in parts]
    counts = [len(p) for p in plans]

    def field(name: str, ndim: int) -> list[Array]:
        return [_join(layer, ndim, counts)
                for layer in zip(*(getattr(p, name) for p in plans), strict=True)]

    bp = BlockPlan(trials=np.concatenate([p.trials for p in plans]),
                   input_index=np.concatenate([p.input_index for p in plans]),
                   x=np.concatenate([p.x for p in plans]), crash_time=plans[0].crash_time,
                   crashed=field("crashed", 1), byzantine=field("byzantine", 1),
                   lost=field("lost", 2), replaced=field("replaced", 2),
                   value=field("value", 2), weights=field("weights", 2), latency=[])
    out = BlockOutcome(np.concatenate([o.output for o in outs]),
                       [np.concatenate(t) for t in zip(*(o.fire_time for o in outs), strict=True)],
                       [np.concatenate(u) for u in zip(*(o.used for o in outs), strict=True)],
                       {k: np.concatenate([o.messages[k] for o in outs]) for k in MESSAGES})
    return bp, out


def stack_plans(plans: Sequence[TrialPlan]) -> BlockPlan:
    """Stack the TrialPlans of a block (in trial order) into one BlockPlan."""
    builder = BlockBuilder(len(plans), len(plans[0].latency))
    for plan in plans:
        builder.add(plan)
    return builder.build()


@dataclass
class BlockOutcome:
    """What B trials produced (`TrialOutcome` with a leading trial axis).

    output: (B, N_{L+1}), NaN where an output neuron never fired.
    fire_time[l]: (B, N_l), inf where the neuron never fired; l = 0..L+1.
    used[l-1]: bool (B, N_l, N_{l-1}).
    messages: name -> int array (B,), the names of `MESSAGES`.
    """

    output: Array
    fire_time: list[Array]
    used: list[Array]
    messages: dict[str, Array]

    @property
    def blocked(self) -> Array:
        """(B,) bool: some output neuron never fired."""
        return ~np.isfinite(self.fire_time[-1]).all(axis=1)

    @property
    def latency(self) -> Array:
        """(B,) time the last output neuron fired (inf if blocked)."""
        return self.fire_time[-1].max(axis=1)

    def layer_latency(self) -> Array:
        """(B, L+1): per layer 1..L+1, when its last neuron that fired did (NaN if none did)."""
        cols = []
        for t in self.fire_time[1:]:
            fired = np.isfinite(t)
            last = np.where(fired, t, -np.inf).max(axis=1)
            cols.append(np.where(fired.any(axis=1), last, np.nan))
        return np.stack(cols, axis=1)

    def signal_kinds(self, replaced: Sequence[Array]) -> list[Array]:
        """Per layer 1..L+1: int8 (B, N_l, N_{l-1}) CORRECT / MISSING / CORRUPTED (as
        `TrialOutcome.signal_kinds`), from the plans' `replaced` masks. A receiver that
        never fired has an all-CORRECT row, as there."""
        kinds = []
        correct, missing, corrupted = np.int8(CORRECT), np.int8(MISSING), np.int8(CORRUPTED)
        for used, rep, t in zip(self.used, replaced, self.fire_time[1:], strict=True):
            if rep.any():
                k = np.where(used, np.where(rep, corrupted, correct), missing)
            elif (correct, missing) == (0, 1):  # numpy's bools are the bytes 0 and 1
                k = np.logical_not(used).view(np.int8)
            else:
                k = np.where(used, correct, missing)
            k[~np.isfinite(t)] = correct
            kinds.append(k)
        return kinds

    def trial(self, b: int) -> TrialOutcome:
        """The b-th trial of the block as a TrialOutcome."""
        return TrialOutcome(self.output[b], [t[b] for t in self.fire_time],
                            [u[b] for u in self.used],
                            {k: int(v[b]) for k, v in self.messages.items()})


def stack_outcomes(outcomes: Sequence[TrialOutcome]) -> BlockOutcome:
    """Per-trial outcomes (in trial order) as one BlockOutcome."""
    n = len(outcomes[0].fire_time)
    return BlockOutcome(
        np.stack([o.output for o in outcomes]),
        [np.stack([o.fire_time[l] for o in outcomes]) for l in range(n)],
        [np.stack([o.used[l] for o in outcomes]) for l in range(n - 1)],
        {k: np.array([o.messages[k] for o in outcomes], dtype=np.int64) for k in MESSAGES})


def count_true(mask: Array) -> Array:
    """(B, ...) bool -> (B,) int64, the True entries of each trial.

    Eight bools at a time (numpy's bools are bytes 0 or 1: a 64-bit word of them has
    as many bits set as it holds True), several times faster than a sum of bools.
    """
    flat = mask.reshape(len(mask), int(np.prod(mask.shape[1:])))
    if _POPCOUNT and flat.shape[1] % 8 == 0 and flat.flags.c_contiguous:
        return np.bitwise_count(flat.view(np.uint64)).sum(axis=1, dtype=np.int64)
    return flat.sum(axis=1, dtype=np.int64)


_POPCOUNT = hasattr(np, "bitwise_count")  # numpy >= 2.0


# Array arguments of the kernel that do not apply (a rank it accepts, no entries).
_NONE, _NONE_2D, _NONE_BOOL = np.empty((0, 0, 0)), np.empty((0, 0)), np.empty((0, 0, 0), bool)


def _c(a: Array, shape: tuple[int, ...], dtype=float) -> Array:
    """a broadcast to shape, C-ordered (a copy only where it is not already)."""
    return np.ascontiguousarray(np.broadcast_to(a, shape), dtype=dtype)


def simulate_block(net: Network, plan: BlockPlan, rule: FiringRule) -> BlockOutcome:
    """Run a block of trials (see `BlockPlan`), layer by layer over every trial at once.

    Each layer's receivers go through `receive_layer` (compiled): arrivals, the firing
    rule's time, the signals used and the preactivation sums, a receiver's row at a
    time; what depends on a receiver only (crashes, the horizon, the activation) is
    done here with numpy over the whole layer.
    """
    from neurosim.engines.kernels import receive_layer  # compiles on first use

    sizes, L = net.sizes, net.depth
    B = len(plan)
    fire = [np.zeros((B, sizes[0]))]
    y_prev = plan.x
    used_all = []
    msgs = {k: np.zeros(B, dtype=np.int64) for k in MESSAGES}
    timeout = np.inf if rule.timeout is None else float(rule.timeout)
    for l in range(1, L + 2):
        shape = (B, sizes[l], sizes[l - 1])
        sent = np.isfinite(fire[-1])  # (B, N_{l-1}): which senders sent
        msgs["sent"] += sent.sum(axis=1) * sizes[l]
        lost, replaced, W = plan.lost[l - 1], plan.replaced[l - 1], plan.weights[l - 1]
        any_lost = bool(lost.any())
        if any_lost:
            lost = _c(lost, shape, bool)
            msgs["lost"] += count_true(lost & sent[:, None, :])
        time, s = np.empty(shape[:2]), np.empty(shape[:2])
        used = np.empty(shape, dtype=bool)
        counts = np.empty((*shape[:2], 3), dtype=np.int64)
        k = sizes[l - 1] if rule.quorum is None else rule.quorum[l - 1]
        # Where a sender or synapse is Byzantine, each signal's own value.
        value = _c(np.where(replaced, plan.value[l - 1], y_prev[:, None, :]), shape) \
            if replaced.any() else _NONE
        receive_layer(fire[-1], _c(plan.latency[l - 1], shape),
                      lost if any_lost else _NONE_BOOL, _c(y_prev, y_prev.shape),
                      value, _c(W, W.shape) if W.ndim == 2 else _NONE_2D,
                      _c(W, shape) if W.ndim == 3 else _NONE, int(k), timeout,
                      bool(rule.timeout_from_start), float(rule.horizon), time, used, s,
                      counts)
        arrived, travelling, n_used = counts.sum(axis=1).T
        t_fire = time + rule.processing
        dead = plan.crashed[l] & (t_fire >= plan.crash_time)
        fires = np.isfinite(time) & (t_fire < rule.horizon) & ~dead
        if not fires.all():
            used &= fires[:, :, None]
            n_used = (counts[:, :, 2] * fires).sum(axis=1)
            s[~fires] = 0.0  # a receiver that never fires has no value (NaN below)
        msgs["received"] += arrived
        msgs["in_flight"] += travelling
        msgs["used"] += n_used
        msgs["wasted"] += arrived - n_used
        s += net.biases[l - 1]
        y = net.phis[l - 1](s) if l <= L else s
        y = np.where(fires, y, np.nan)
        fire.append(np.where(fires, t_fire, np.inf))
        used_all.append(used)
        y_prev = y
    return BlockOutcome(y_prev, fire, used_all, msgs)


def fault_free_outputs(net: Network, x: Array) -> Array:
    """`Network.forward(x)`, bit for bit, through the compiled row sums: x (n, N_0) ->
    (n, N_{L+1})."""
    from neurosim.engines.kernels import weighted_sums

    y = np.ascontiguousarray(x, dtype=float)
    for l, (W, b) in enumerate(zip(net.weights, net.biases, strict=True), start=1):
        s = np.empty((len(y), W.shape[0]))
        weighted_sums(np.ascontiguousarray(W), y, s)
        s += b
        y = net.phis[l - 1](s) if l <= net.depth else s
    return y
