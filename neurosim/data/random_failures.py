"""Random failures: each neuron (synapse) fails independently, with a probability per layer.

`crash_probability` p_l (hidden layer 1..L): in each trial, each neuron of
layer l crashes with probability p_l. `synapse_crash_probability` q_l
(receiving layer 1..L+1): each synapse into layer l from a correct sender
loses its message with probability q_l. The draws come from the trial's
stream (`neurosim.engines.plan`), so both engines see the same failures.

The counts the bounds need are then random: a receiver of layer l misses
the f_{l-1} crashed senders plus its own lost synapses, and the worst
receiver sets the count (the bounds hold for at most the counts, any split
among receivers). `missing_distribution` gives that count's law, from which
`neurosim.bounds.expected` takes the expected-error bound.
"""

from __future__ import annotations

import math

import numpy as np

from neurosim.data.counts import per_layer
from neurosim.data.network import Network
from neurosim.data.scenario import Scenario
from neurosim.errors import InputError

Array = np.ndarray


def probabilities(scn: Scenario, net: Network) -> tuple[list[float], list[float]]:
    """(p per hidden layer 1..L, q per receiving layer 1..L+1); zeros where not given."""
    f, L = scn.failures, net.depth
    p = per_layer(f.crash_probability if f.crash_probability is not None else 0.0, L,
                  "crash_probability")
    q = per_layer(f.synapse_crash_probability if f.synapse_crash_probability is not None
                  else 0.0, L + 1, "synapse_crash_probability")
    return [float(x) for x in p], [float(x) for x in q]


def check_random_failures(scn: Scenario, net: Network) -> None:
    """Refuse probabilities of the wrong length, or given with a count for the same layer."""
    f, L = scn.failures, net.depth
    pairs = [("crash_probability", f.crash_probability, "crash", f.crash, L),
             ("synapse_crash_probability", f.synapse_crash_probability, "synapse_crash",
              f.synapse_crash, L + 1)]
    for key, prob, count_key, count, n in pairs:
        if prob is None:
            continue
        try:
            probs = per_layer(prob, n, key)
        except ValueError:
            raise InputError(scn.source, f"failures.{key}",
                             f"expected a scalar or a list of {n} values (one per layer)") from None
        counts = per_layer(count, n, count_key)
        for l, (pr, c) in enumerate(zip(probs, counts, strict=True), start=1):
            if pr > 0 and c > 0:
                raise InputError(scn.source, f"failures.{key}",
                                 f"layer {l} has both {key} = {pr} and {count_key} = {c}: "
                                 "give one or the other")
        if key == "crash_probability" and f.placement == "list" and any(probs):
            raise InputError(scn.source, f"failures.{key}",
                             "random crashes cannot be combined with placement = 'list'")


def binomial_pmf(n: int, p: float) -> Array:
    """P(K = k) for k = 0..n, K ~ Binomial(n, p); shape (n + 1,)."""
    if p <= 0.0:
        out = np.zeros(n + 1)
        out[0] = 1.0
        return out
    if p >= 1.0:
        out = np.zeros(n + 1)
        out[n] = 1.0
        return out
    k = np.arange(n + 1)
    log = (np.array([math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
                     for i in k]) + k * math.log(p) + (n - k) * math.log1p(-p))
    pmf = np.exp(log)
    return pmf / pmf.sum()


def missing_distribution(net: Network, p: list[float], q: list[float]) -> list[Array]:
    """Per receiving layer l = 1..L+1, the law of R_l, the most signals any receiver of
    layer l loses to random failures: pmf over r = 0..N_{l-1}, shape (N_{l-1} + 1,).

    R_l = f + max_j g_j with f ~ Binomial(N_{l-1}, p_{l-1}) crashed senders (p_0 = 0:
    inputs do not crash) and, given f, g_j ~ Binomial(N_{l-1} - f, q_l) lost synapses
    into each of the N_l receivers, independent: P(max_j g_j <= k | f) = F(k)^{N_l}.
    Layers draw independently, so the R_l are independent. Byzantine senders (whose
    synapses are not drawn) and crashed receivers only make the realised count smaller.
    """
    sizes = net.sizes
    out = []
    for l in range(1, net.depth + 2):
        n, receivers = sizes[l - 1], sizes[l]
        pf = binomial_pmf(n, p[l - 2]) if l >= 2 else binomial_pmf(n, 0.0)
        ql = q[l - 1]
        if ql <= 0.0:
            out.append(pf)
            continue
        cdf_r = np.zeros(n + 1)  # P(R <= r)
        for f, w in enumerate(pf):
            if w == 0.0:
                continue
            cdf_g = np.cumsum(binomial_pmf(n - f, ql)) ** receivers  # P(max g <= k), k = 0..n-f
            cdf_g = np.minimum(cdf_g, 1.0)
            cdf_r[f:] += w * cdf_g  # R = f + max g
        pmf = np.diff(np.concatenate([[0.0], np.minimum(cdf_r, 1.0)]))
        pmf = np.maximum(pmf, 0.0)
        out.append(pmf / pmf.sum())
    return out
