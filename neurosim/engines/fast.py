"""The vectorised engine: the same trial as the SimPy engine, layer by layer in numpy.

Since the network is feed-forward, every neuron of layer l fires at a time
that depends only on the firing times of layer l-1 and the latencies: the
k-th smallest arrival (quorum), the last one (wait-all), or a deadline
(timeout). Ties go by sender index, as in the SimPy engine. It serves as the
second engine the SimPy one is checked against, and for large sweeps.
"""

from __future__ import annotations

import numpy as np

from neurosim.data.network import Network, preactivation
from neurosim.engines.outcome import TrialOutcome, used_values
from neurosim.engines.plan import FiringRule, TrialPlan

Array = np.ndarray


def rule_times(arrival: Array, k: int | None, rule: FiringRule) -> tuple[Array, Array]:
    """When each receiver's firing rule holds, and which signals it then uses.

    arrival: (N_l, N_{l-1}) arrival times, inf for signals that never come.
    k: quorum (None: all signals). Returns (time (N_l,), used bool (N_l, N_{l-1})).
    """
    n = arrival.shape[1]
    order = np.argsort(arrival, axis=1, kind="stable")  # ties by sender index
    ordered = np.take_along_axis(arrival, order, axis=1)
    time = ordered[:, n - 1] if k is None else ordered[:, k - 1]
    if rule.timeout is not None:
        start = np.zeros(len(arrival)) if rule.timeout_from_start else ordered[:, 0]
        time = np.minimum(time, start + rule.timeout)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(n)[None, :].repeat(len(arrival), 0), axis=1)
    used = (arrival <= time[:, None]) & (rank < (n if k is None else k))
    return time, used


def simulate_fast(net: Network, plan: TrialPlan, rule: FiringRule) -> TrialOutcome:
    """Run one trial (see `TrialPlan`) without an event queue."""
    sizes, L = net.sizes, net.depth
    phis = net.phis
    fire = [np.zeros(sizes[0])]
    y_prev = plan.x
    used_all = []
    msgs = dict(sent=0, received=0, lost=0, in_flight=0, used=0, wasted=0)
    for l in range(1, L + 2):
        sent = np.isfinite(fire[-1])  # which senders sent
        msgs["sent"] += int(sent.sum()) * sizes[l]
        lost = plan.lost[l - 1] & sent[None, :]
        msgs["lost"] += int(lost.sum())
        arrival = fire[-1][None, :] + plan.latency[l - 1]
        arrival[lost | ~sent[None, :]] = np.inf
        arrived = arrival < rule.horizon
        msgs["received"] += int(arrived.sum())
        # Still travelling at the horizon: sent, not lost, not arrived (an infinite
        # delay, a straggler's overflow, included).
        msgs["in_flight"] += int((sent[None, :] & ~lost & ~arrived).sum())

        k = None if rule.quorum is None else rule.quorum[l - 1]
        t, used = rule_times(arrival, k, rule)
        t_fire = t + rule.processing
        dead = plan.crashed[l] & (t_fire >= plan.crash_time)
        fires = np.isfinite(t) & (t_fire < rule.horizon) & ~dead
        used &= fires[:, None]
        msgs["used"] += int(used.sum())
        msgs["wasted"] += int(arrived.sum() - used.sum())

        s = preactivation(plan.weights[l - 1], used_values(plan, l, y_prev, used),
                          net.biases[l - 1])
        y = phis[l - 1](s) if l <= L else s
        y = np.where(fires, y, np.nan)
        fire.append(np.where(fires, t_fire, np.inf))
        used_all.append(used)
        y_prev = y
    return TrialOutcome(y_prev, fire, used_all, msgs)
