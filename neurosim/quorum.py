"""Quorums from an error budget (boosting; docs/model.md).

A receiver of layer l (1..L+1) with quorum k_l fires on the first k_l of its
N_{l-1} signals, so it skips s_l = N_{l-1} - k_l of them; signals that never
arrive (crashed senders, lost messages) are among the skipped ones, so it
misses max(crash_{l-1} + synapse_crash_l, s_l) signals
(`failure_counts(..., skipped=...)`). The worst-case
bounds hold for at most that many missing signals per receiver (top-f per
receiver), so a certified plan holds when every receiver misses a different
set, and when a skipped signal was a corrupted one.

The search runs over the skip vector s = (s_1, ..., s_{L+1}) with

    lo_l = crash_{l-1} + synapse_crash_l     (liveness; crash_0 = 0)
    hi_l = min(N_{l-1} - 1, N_{l-1} - corrupted_l)

(k_l >= 1, and the missing plus corrupted signals fit in N_{l-1}). Nothing
assumes the bound is monotone in s: every plan returned has its combined
bound evaluated, and `certified` is that value <= budget. (The at-most bounds
are non-decreasing in s, since one skip more only adds configurations;
`tests/test_quorum.py` checks it. The search does not rely on it.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neurosim.bounds.linear_intervals import network_intervals
from neurosim.bounds.paper import paper_fep
from neurosim.bounds.signed import signed_bound
from neurosim.bounds.weight_aware import weight_aware_bound
from neurosim.data.build import scenario_counts
from neurosim.data.counts import failure_counts, per_layer
from neurosim.data.network import Network
from neurosim.data.scenario import Scenario

Array = np.ndarray

ALLOCATIONS = ("equal", "greedy")
CERTIFIERS = ("signed", "weight_aware", "paper")
GAIN_SAMPLES = 2000


@dataclass(frozen=True)
class QuorumPlan:
    """Quorums for the receiving layers 1..L+1 and the bound that certifies them.

    quorum[l-1] = N_{l-1} - skipped[l-1]: signals a receiver of layer l waits for.
    bound: the certifying bound (`certify`) with these skips and the scenario's
    failures. certified: bound <= budget. A plan that is not certified is
    wait-all (even the fewest skips exceed the budget): the caller reports it.
    """

    quorum: list[int]
    skipped: list[int]
    bound: float
    budget: float
    certify: str
    allocation: str
    certified: bool
    evaluations: int = field(default=0, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {"quorum": list(self.quorum), "skipped": list(self.skipped),
                "bound": self.bound, "budget": self.budget, "certify": self.certify,
                "allocation": self.allocation, "certified": self.certified}


def skip_limits(net: Network, counts: dict[str, Any]) -> tuple[list[int], list[int]]:
    """(lo, hi): the fewest and most signals a receiver of layer 1..L+1 may skip.

    ValueError when a layer has no live quorum (e.g. every sender crashed).
    """
    L, sizes = net.depth, net.sizes
    crash = [0] + per_layer(counts.get("crash", 0), L, "crash")
    byz = [0] + per_layer(counts.get("byzantine", 0), L, "byzantine")
    scrash = per_layer(counts.get("synapse_crash", 0), L + 1, "synapse_crash")
    sbyz = per_layer(counts.get("synapse_byzantine", 0), L + 1, "synapse_byzantine")
    lo, hi = [], []
    for l in range(1, L + 2):
        n = sizes[l - 1]
        # Signals that never arrive (crashed senders, lost messages) are among the
        # skipped ones: a quorum above N - (crashed + lost) could block.
        lo.append(int(crash[l - 1] + scrash[l - 1]))
        hi.append(int(min(n - 1, n - byz[l - 1] - sbyz[l - 1])))
        if lo[-1] > hi[-1]:
            raise ValueError(f"layer {l}: no quorum >= 1 is live with {crash[l - 1]} crashed, "
                             f"{scrash[l - 1]} lost and {byz[l - 1] + sbyz[l - 1]} corrupted "
                             f"of {n} signals")
    return lo, hi


class CachedBound:
    """skips -> the certifying bound with those skips and the counts; each vector once."""

    def __init__(self, net: Network, counts: dict[str, Any], certify: str = "signed"):
        if certify not in CERTIFIERS:
            raise ValueError(f"certify must be one of {', '.join(CERTIFIERS)}, got {certify!r}")
        self.net, self.counts, self.certify = net, dict(counts), certify
        self.intervals = network_intervals(net)
        self.values: dict[tuple[int, ...], float] = {}

    def __call__(self, skips: Sequence[int]) -> float:
        key = tuple(int(s) for s in skips)
        if key not in self.values:
            f = failure_counts(self.net, **self.counts, skipped=list(key))
            if self.certify == "signed":
                value = signed_bound(self.net, f, intervals=self.intervals)
            elif self.certify == "weight_aware":
                value = weight_aware_bound(self.net, f, intervals=self.intervals)
            else:
                value = paper_fep(self.net, f).fep
            self.values[key] = value
        return self.values[key]

    @property
    def evaluations(self) -> int:
        return len(self.values)


def bound_function(net: Network, counts: dict[str, Any],
                   certify: str = "signed") -> Callable[[Sequence[int]], float]:
    """skips -> the certifying bound with those skips and `counts` (cached)."""
    return CachedBound(net, counts, certify)


def expected_gains(n: int, latency=None, samples: int = GAIN_SAMPLES) -> Array:
    """gain[s], s = 0..n-2: expected latency saved by skipping s+1 of n signals instead of s.

    With quorum k = n - s the receiver fires at the k-th order statistic T_(k:n)
    of n i.i.d. delays, so gain[s] = E[T_(k:n)] - E[T_(k-1:n)]. latency None is
    exponential(1): E[T_(k:n)] = H_n - H_{n-k}, so gain[s] = 1/(s+1) exactly
    (whatever n). Otherwise the order statistics are estimated from `samples`
    draws of n delays from `latency.sample(rng, size)`, rng = default_rng(0).
    """
    if n < 2:
        return np.zeros(0)
    if latency is None:
        return 1.0 / np.arange(1, n)
    rng = np.random.default_rng(0)
    total = np.zeros(n)
    chunk = max(1, 2_000_000 // n)
    for start in range(0, samples, chunk):
        rows = min(chunk, samples - start)
        total += np.sort(latency.sample(rng, (rows, n)), axis=1).sum(axis=0)
    means = total / samples  # means[i] = E[T_(i+1:n)]
    return np.diff(means)[::-1].copy()  # gain[s] = means[n-1-s] - means[n-2-s]


def allocate_quorum(net: Network, budget: float, counts: dict[str, Any],
                    allocation: str = "greedy", certify: str = "signed",
                    latency=None) -> QuorumPlan:
    """The quorums that skip the most signals, by `allocation`, with bound <= budget.

    counts: the scenario's failures as keyword arguments of `failure_counts`
    (crash, byzantine, synapse_crash, synapse_byzantine, precision, capacity).
    certify: "signed" (the tightest: linear bounds that keep signs, never
    above the weight-aware one), "weight_aware" (with local Lipschitz
    constants) or "paper" (Fep). latency: an object with `sample(rng, size)` for the greedy
    rule's expected gains; None is exponential(1), in closed form.

    Both rules start from the fewest skips s_l = crash_{l-1}. If their bound
    already exceeds the budget, the most skips (s = hi) are tried, since the
    bound is not monotone; if neither fits, the plan is wait-all with
    certified=False.

    "equal": the headroom budget - bound(lo) is split in L+1 equal shares.
    Per layer, s_l is the largest value (others at lo) whose bound increase
    over bound(lo) is <= its share (a full scan, no monotonicity assumed).
    Increases across layers compound rather than add, so the combined vector
    may still exceed the budget: then, while it does, the s_l whose decrement
    lowers the combined bound most is decremented. This is sound because the
    loop ends only on a combined bound <= budget, and it does end, since at
    s = lo the bound is bound(lo) <= budget. Shares only guide the search.

    "greedy": from s = lo, repeatedly add one skip to the layer of largest
    expected latency gain (`expected_gains`; ties: more senders, then lower
    layer) among the increments that keep the combined bound <= budget; stop
    when none fits (the plan is maximal: no single further skip fits). A
    layer whose increment does not fit is closed until no open layer fits;
    then the closed ones are tried again at the current skips. With a bound
    that is non-decreasing in each s_l this is exactly the rule (a closed
    layer never fits again) and costs at most sum_l (hi_l - lo_l) + 2(L+1)
    bound evaluations. Every accepted step was checked against the budget.

    Greedy is not monotone in the budget: with more budget it may take an
    expensive skip of large gain that a smaller budget could not afford, and
    then have no room for cheap ones (a knapsack greedy), so total skips can
    drop. For the same reason the paper's (larger) bound can end with more
    total skips than the weight-aware one. Every plan is certified all the same.
    """
    if allocation not in ALLOCATIONS:
        raise ValueError(f"allocation must be one of {', '.join(ALLOCATIONS)}, "
                         f"got {allocation!r}")
    counts = dict(counts)
    unknown = set(counts) - {"crash", "byzantine", "synapse_crash", "synapse_byzantine",
                             "precision", "capacity"}
    if unknown:
        raise ValueError(f"unknown failure counts: {', '.join(sorted(unknown))}")
    budget = float(budget)
    lo, hi = skip_limits(net, counts)
    bound = CachedBound(net, counts, certify)
    senders = net.sizes[:-1]

    def plan(skips: list[int], value: float) -> QuorumPlan:
        return QuorumPlan([n - s for n, s in zip(senders, skips)], list(skips), float(value),
                          budget, certify, allocation, value <= budget, bound.evaluations)

    base = bound(lo)
    if not base <= budget:  # also catches a NaN bound
        # The bound need not grow with the skips (a missing signal deviates by at
        # most B_i, a correct one by its propagated bound, which can be larger):
        # the most skips may fit where the fewest do not.
        if bound(hi) <= budget:
            return plan(hi, bound(hi))
        # Wait-all misses exactly the crashed signals, like the fewest skips.
        return plan([0] * len(senders), base)
    if allocation == "equal":
        skips = _equal(bound, lo, hi, base, budget)
    else:
        gains = [expected_gains(n, latency) for n in senders]
        skips = _greedy(bound, lo, hi, budget, gains, senders)
    return plan(skips, bound(skips))


def _with(skips: Sequence[int], l: int, value: int) -> list[int]:
    out = list(skips)
    out[l] = value
    return out


def _equal(bound, lo: list[int], hi: list[int], base: float, budget: float) -> list[int]:
    share = (budget - base) / len(lo)
    skips = list(lo)
    for l in range(len(lo)):
        for v in range(lo[l] + 1, hi[l] + 1):
            if bound(_with(lo, l, v)) - base <= share:
                skips[l] = v
    while not bound(skips) <= budget:
        options = [(bound(_with(skips, l, skips[l] - 1)), l)
                   for l in range(len(lo)) if skips[l] > lo[l]]
        _, l = min(options)  # the lowest combined bound; ties: the lower layer
        skips[l] -= 1
    return skips


def _greedy(bound, lo: list[int], hi: list[int], budget: float, gains: list[Array],
            senders: list[int]) -> list[int]:
    skips = list(lo)

    def fitting(layers) -> set[int]:
        return {l for l in layers
                if skips[l] < hi[l] and bound(_with(skips, l, skips[l] + 1)) <= budget}

    open_ = {l for l in range(len(lo)) if skips[l] < hi[l]}
    while open_:
        while open_:
            order = sorted(open_, key=lambda l: (-gains[l][skips[l]], -senders[l], l))
            for l in order:
                trial = _with(skips, l, skips[l] + 1)
                if bound(trial) <= budget:
                    skips = trial
                    if skips[l] >= hi[l]:
                        open_.discard(l)
                    break
                open_.discard(l)  # closed
        # No open layer fits. A closed one failed at earlier skips; with a bound
        # that is not monotone it may fit now: look again at every layer.
        open_ = fitting(range(len(lo)))
    return skips


def scenario_latency(scn: Scenario):
    """The scenario's latency model for the expected gains, or None (exponential, exact).

    Exponential delays of any mean give gains proportional to 1/(s+1), so the
    closed form (None) orders them exactly.
    """
    if scn.latency.model == "exponential":
        return None
    from neurosim.engines.plan import latency_model

    return latency_model(scn)


def auto_quorum(net: Network, scn: Scenario) -> QuorumPlan:
    """`[firing] quorum = "auto"`: allocate_quorum with the scenario's budget and rules.

    The budget is `firing.epsilon` (epsilon - epsilon'). The counts are the
    scenario's own (`scenario_counts`), which keep crashes apart from lost
    messages.
    """
    fs = scn.firing
    if fs.epsilon is None:
        raise ValueError("quorum = 'auto' needs firing.epsilon")
    return allocate_quorum(net, fs.epsilon, scenario_counts(scn, net), fs.allocation,
                           fs.certify, scenario_latency(scn))
