"""Expected-error bound under random failures: sum over counts of P(counts) * bound(counts).

Why it is sound. In a trial, the output error is at most the worst-case
bound for that trial's realised counts (the most signals any receiver of
each layer missed), because the worst-case bounds hold for *at most* the
counts, any split among receivers. The realised count R_l of layer l is at
most the declared count plus what the random failures took, whose law is
known (`neurosim.data.random_failures.missing_distribution`); and the bound
does not decrease when a count grows (it holds for at most the counts, so a
larger count allows every smaller failure). Hence, pointwise,
error <= bound(declared + R), and taking expectations,
E[error] <= E[bound(declared + R)] = sum_r P(R = r) bound(declared + r).

The sum runs over the product of the layers' supports (the layers draw
independently). Each layer's support is cut where the remaining probability
is below `tail`; that mass is moved to the largest possible count, which
only raises the sum, so the cut keeps it an upper bound. On wide networks the
product can be large: then consecutive counts of the widest layer are grouped
and charged at the group's largest count, again only raising the sum.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from neurosim.data.counts import Failures
from neurosim.data.network import Network

Array = np.ndarray


def truncated(pmf: Array, cap: int, tail: float) -> list[tuple[int, float]]:
    """(count, probability) pairs: pmf up to where P(more) <= tail, the rest at `cap`."""
    survival = 1.0 - np.cumsum(pmf)
    last = int(np.argmax(survival <= tail)) if np.any(survival <= tail) else len(pmf) - 1
    last = min(last, cap)
    pairs = [(r, float(pmf[r])) for r in range(last + 1) if pmf[r] > 0]
    rest = float(pmf[last + 1:].sum())
    if rest > 0:
        pairs.append((cap, rest))
    return pairs


def coarsened(pairs: list[tuple[int, float]], width: int) -> list[tuple[int, float]]:
    """Consecutive counts merged `width` at a time, each group at its largest count.

    Charging a group's probability at its largest count only raises the sum (the bound
    does not decrease as a count grows), so the result is still an upper bound.
    """
    if width <= 1:
        return pairs
    out: list[tuple[int, float]] = []
    for i in range(0, len(pairs), width):
        group = pairs[i:i + width]
        out.append((group[-1][0], sum(w for _, w in group)))
    return out


def layer_supports(net: Network, base: Failures, distributions: list[Array], tail: float,
                   max_evaluations: int) -> list[list[tuple[int, float]]]:
    """Per layer, the (count, probability) pairs the sum runs over: truncated at `tail`,
    then the widest layer coarsened until the product has at most `max_evaluations`."""
    sizes = net.sizes
    layers = []
    for l, pmf in enumerate(distributions, start=1):
        cap = sizes[l - 1] - base.missing[l - 1] - base.corrupted[l - 1]
        layers.append(truncated(pmf, max(cap, 0), tail))
    widths = [1] * len(layers)
    while True:
        current = [coarsened(pairs, w) for pairs, w in zip(layers, widths, strict=True)]
        sizes_now = [len(c) for c in current]
        if int(np.prod(sizes_now)) <= max_evaluations or max(sizes_now) <= 1:
            return current
        widths[int(np.argmax(sizes_now))] *= 2


def expected_error_bound(net: Network, base: Failures, distributions: list[Array],
                         bound: Callable[[Failures], float], tail: float = 1e-9,
                         max_evaluations: int = 4000) -> float:
    """sum_r P(R = r) bound(base + r) (see the module docstring), an upper bound on the
    mean error.

    base: the declared counts. distributions[l-1]: pmf of R_l over 0..N_{l-1},
    the signals each receiver of layer l loses to random failures. bound: a
    worst-case bound for at most the given counts (e.g. the weight-aware one).
    At most `max_evaluations` count vectors are evaluated: beyond, the widest
    layer's counts are grouped (`coarsened`), which keeps the sum an upper bound.
    """
    layers = layer_supports(net, base, distributions, tail, max_evaluations)
    total = 0.0
    for combo in itertools.product(*layers):
        weight = float(np.prod([w for _, w in combo]))
        if weight == 0.0:
            continue
        missing = tuple(m + r for m, (r, _) in zip(base.missing, combo, strict=True))
        total += weight * bound(replace(base, missing=missing))
    return total


def support_size(net: Network, base: Failures, distributions: list[Array],
                 tail: float = 1e-9, max_evaluations: int = 4000) -> int:
    """How many count vectors `expected_error_bound` evaluates."""
    layers = layer_supports(net, base, distributions, tail, max_evaluations)
    return int(np.prod([len(pairs) for pairs in layers]))
