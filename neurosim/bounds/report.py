"""Every bound (docs/bounds.md) for one network and failure counts, and the epsilon test."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from neurosim.bounds.linear_intervals import network_intervals
from neurosim.bounds.paper import paper_fep
from neurosim.bounds.signed import signed_bound
from neurosim.bounds.weight_aware import weight_aware_bound
from neurosim.data.counts import Failures
from neurosim.data.network import Network


def with_crashes(failures: Failures, layer: int, f: int) -> Failures:
    """`failures` with each receiver of layer `layer`+1 missing f signals from layer `layer`."""
    missing = list(failures.missing)
    missing[layer] = f
    return replace(failures, missing=tuple(missing))


def largest_tolerated(net: Network, budget: float, bound: Callable[[Failures], float],
                      base: Failures) -> list[int]:
    """Per hidden layer l = 1..L, the largest f_l (others as in `base`) with bound <= budget.

    Counts up from 0 and stops at the first count over budget, so every
    smaller count is tolerated too.
    """
    out = []
    for l in range(1, net.depth + 1):
        # Byzantine neurons of the layer cannot also crash: at most N_l - z_l crashes.
        cap = net.sizes[l] - base.corrupted[l]
        f = 0
        while f < cap and bound(with_crashes(base, l, f + 1)) <= budget:
            f += 1
        out.append(f)
    return out


def bound_report(net: Network, failures: Failures, epsilon: float | None = None) -> dict[str, Any]:
    """The bounds as a flat dict (the keys of `neurosim bound --json`).

    epsilon: the tolerated output error epsilon - epsilon'; when
    given, says whether the failures are tolerated and, one hidden layer at a
    time, the largest number of crashed neurons that is: with the scenario's
    corrupted signals and weight precision, but no other missing signal (its
    crashes, lost messages and quorum skips are set aside), so that the count
    speaks of that layer alone.
    """
    iv = network_intervals(net)
    paper = paper_fep(net, failures)
    wa_global = weight_aware_bound(net, failures, local=False, intervals=iv)
    wa_local = weight_aware_bound(net, failures, local=True, intervals=iv)
    signed = signed_bound(net, failures, intervals=iv)
    report: dict[str, Any] = {
        "sizes": net.sizes,
        "activations": list(net.activations),
        "missing_per_layer": list(failures.missing),
        "corrupted_per_layer": list(failures.corrupted),
        "precision_per_layer": list(failures.eta),
        "capacity": failures.capacity,
        "bound_paper": paper.fep,
        "bound_paper_exact_f": paper.fep_exact_f,
        "bound_weight_aware_global_k": wa_global,
        "bound_weight_aware": wa_local,
        "bound_signed": signed,
        # The smallest sound bound for these counts (the signed one is never above
        # the weight-aware one, which is never above the paper's at-most form).
        "bound_tightest": min(signed, wa_local, wa_global),
        "paper_delta_per_layer": paper.delta,
        "paper_contribution_per_layer": paper.contribution,
        "B_per_layer": paper.B,
        "w_max_per_layer": paper.w_max,
        "lipschitz_per_layer": paper.K,
    }
    if epsilon is not None:
        no_crash = replace(failures, missing=(0,) * len(failures.missing))
        report.update(
            epsilon=epsilon,
            tolerated_paper=paper.fep <= epsilon,
            tolerated_weight_aware=wa_local <= epsilon,
            tolerated_signed=signed <= epsilon,
            max_crashes_paper=largest_tolerated(
                net, epsilon, lambda f: paper_fep(net, f).fep, no_crash),
            max_crashes_weight_aware=largest_tolerated(
                net, epsilon, lambda f: weight_aware_bound(net, f, intervals=iv), no_crash),
            max_crashes_signed=largest_tolerated(
                net, epsilon, lambda f: signed_bound(net, f, intervals=iv), no_crash),
        )
    return report
