"""The batched vectorised engine: a block of trials at once, arrays with a leading trial axis.

Each trial's draws still come from its own TrialPlan (one Generator per
trial, `Planner.plan`), so a trial's outcome does not depend on the block it
ran in: the same fire times, used signals and output bits as `simulate_fast`
and the SimPy engine. The plans are stacked (`stack_plans`) and every layer
is then one set of numpy operations over (trials, receivers, senders).

The same quantities as `TrialOutcome`, for B trials at once, are in
`BlockOutcome`; `stack_outcomes` builds one from per-trial outcomes (the
SimPy engine), so the runner handles both engines' results alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from neurosim.data.network import Network, preactivation
from neurosim.data.signals import CORRECT, CORRUPTED, MISSING
from neurosim.engines.outcome import TrialOutcome
from neurosim.engines.plan import FiringRule, TrialPlan

Array = np.ndarray

MESSAGES = ("sent", "received", "lost", "in_flight", "used", "wasted")


@dataclass(frozen=True)
class BlockPlan:
    """B trials' plans stacked: each TrialPlan field with a leading trial axis.

    lost, replaced, value and weights are (N_l, N_{l-1}) when every trial of
    the block shares the same array (no per-trial draw: no failed synapse,
    adversarial or constant Byzantine values, exact weights), else
    (B, N_l, N_{l-1}); either way they broadcast against the block's arrays.
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


def _stack(arrays: Sequence[Array]) -> Array:
    """One array for every trial if all share it (the same object), else stacked."""
    first = arrays[0]
    if all(a is first for a in arrays):
        return first
    return np.stack(arrays)


def stack_plans(plans: Sequence[TrialPlan]) -> BlockPlan:
    """Stack the TrialPlans of a block (in trial order) into one BlockPlan."""
    n_layers = len(plans[0].latency)
    crash_times = {p.crash_time for p in plans}
    if len(crash_times) != 1:
        raise ValueError("a block's trials must share the crash time")

    def per_trial(name: str, l: int) -> Array:
        return np.stack([getattr(p, name)[l] for p in plans])

    def shared(name: str, l: int) -> Array:
        return _stack([getattr(p, name)[l] for p in plans])

    return BlockPlan(
        trials=np.array([p.trial for p in plans]),
        input_index=np.array([p.input_index for p in plans]),
        x=np.stack([p.x for p in plans]),
        crashed=[per_trial("crashed", l) for l in range(n_layers + 1)],
        crash_time=crash_times.pop(),
        byzantine=[per_trial("byzantine", l) for l in range(n_layers + 1)],
        lost=[shared("lost", l) for l in range(n_layers)],
        replaced=[shared("replaced", l) for l in range(n_layers)],
        value=[shared("value", l) for l in range(n_layers)],
        weights=[shared("weights", l) for l in range(n_layers)],
        latency=[per_trial("latency", l) for l in range(n_layers)],
    )


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
        `TrialOutcome.signal_kinds`), from the plans' `replaced` masks."""
        return [np.where(used, np.where(rep, CORRUPTED, CORRECT), MISSING).astype(np.int8)
                for used, rep in zip(self.used, replaced, strict=True)]

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


def block_rule_times(arrival: Array, k: int | None, rule: FiringRule) -> tuple[Array, Array]:
    """`neurosim.engines.fast.rule_times` for a block: arrival (B, N_l, N_{l-1}).

    The k-th smallest arrival comes from a partition rather than a sort. The
    signals used are the first k by (arrival, sender index), as a stable sort
    ranks them. A receiver firing before its k-th arrival (a deadline) used
    fewer than k, all ranked before k; one firing at its k-th arrival used
    every signal up to it, unless several tie with the k-th value: then, of
    those tied, the lowest sender indices up to k in all.
    Returns (time (B, N_l), used bool (B, N_l, N_{l-1})).
    """
    n = arrival.shape[-1]
    kk = n if k is None else k
    kth = arrival.max(axis=-1) if kk == n else \
        np.partition(arrival, kk - 1, axis=-1)[..., kk - 1]
    time = kth
    if rule.timeout is not None:
        start = np.zeros(kth.shape) if rule.timeout_from_start else arrival.min(axis=-1)
        time = np.minimum(time, start + rule.timeout)
    used = arrival <= time[..., None]
    if kk < n:
        over = used.sum(axis=-1) > kk  # only where signals tie with the k-th one
        if over.any():
            rows, at = arrival[over], kth[over][:, None]
            tie = rows == at
            room = kk - (rows < at).sum(axis=-1)
            used[over] &= (rows < at) | (tie & (np.cumsum(tie, axis=-1) <= room[:, None]))
    return time, used


def simulate_block(net: Network, plan: BlockPlan, rule: FiringRule) -> BlockOutcome:
    """Run a block of trials (see `BlockPlan`), layer by layer over every trial at once."""
    sizes, L = net.sizes, net.depth
    phis = net.phis
    B = len(plan)
    fire = [np.zeros((B, sizes[0]))]
    y_prev = plan.x
    used_all = []
    msgs = {k: np.zeros(B, dtype=np.int64) for k in MESSAGES}
    for l in range(1, L + 2):
        sent = np.isfinite(fire[-1])  # (B, N_{l-1}): which senders sent
        msgs["sent"] += sent.sum(axis=1) * sizes[l]
        arrival = fire[-1][:, None, :] + plan.latency[l - 1]
        gone = ~sent[:, None, :]
        if plan.lost[l - 1].any():
            lost = plan.lost[l - 1] & sent[:, None, :]
            msgs["lost"] += lost.sum(axis=(1, 2))
            gone = gone | lost
        if not sent.all() or plan.lost[l - 1].any():
            np.copyto(arrival, np.inf, where=gone)
        n_arrived = (arrival < rule.horizon).sum(axis=(1, 2))
        msgs["received"] += n_arrived
        # Still travelling at the horizon: sent (finite arrival) but not arrived.
        n_travelling = np.isfinite(arrival).sum(axis=(1, 2)) if np.isinf(arrival).any() \
            else arrival[0].size
        msgs["in_flight"] += n_travelling - n_arrived

        k = None if rule.quorum is None else rule.quorum[l - 1]
        t, used = block_rule_times(arrival, k, rule)
        t_fire = t + rule.processing
        dead = plan.crashed[l] & (t_fire >= plan.crash_time)
        fires = np.isfinite(t) & (t_fire < rule.horizon) & ~dead
        used &= fires[:, :, None]
        n_used = used.sum(axis=(1, 2))
        msgs["used"] += n_used
        msgs["wasted"] += n_arrived - n_used

        # What each receiver computed with: the sender's value, the replacing one
        # (Byzantine sender or synapse), or 0 for a missing signal.
        replaced = plan.replaced[l - 1]
        sent_values = (np.where(replaced, plan.value[l - 1], y_prev[:, None, :])
                       if replaced.any() else y_prev[:, None, :])
        u = np.where(used, sent_values, 0.0)
        s = preactivation(plan.weights[l - 1], u, net.biases[l - 1])
        y = phis[l - 1](s) if l <= L else s
        y = np.where(fires, y, np.nan)
        fire.append(np.where(fires, t_fire, np.inf))
        used_all.append(used)
        y_prev = y
    return BlockOutcome(y_prev, fire, used_all, msgs)
