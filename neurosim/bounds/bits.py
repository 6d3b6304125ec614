"""The paper's memory-cost question: the fewest weight bits whose error bound fits epsilon.

Weights stored in b-bit fixed point are off by at most eta_l = Delta_l / 2
(`neurosim.data.quantize`), which every bound takes as reduced precision.
Fewer bits, larger eta, larger bound: the fewest bits that keep the bound
within epsilon - epsilon' are certified, whatever else fails (the failures'
counts are kept as given).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from neurosim.data.counts import Failures
from neurosim.data.network import Network
from neurosim.data.quantize import BITS_RANGE, memory_bits, quantization_etas

Bound = Callable[[Failures], float]


def with_bits(net: Network, failures: Failures, bits: int | Sequence[int],
              precision: Sequence[float] | None = None) -> Failures:
    """`failures` whose weight precision is `precision` (default 0) plus `bits`'s quantization."""
    base = precision if precision is not None else [0.0] * (net.depth + 1)
    etas = quantization_etas(net, bits)
    return replace(failures, eta=tuple(p + q for p, q in zip(base, etas, strict=True)))


def fewest_bits(net: Network, failures: Failures, epsilon: float, bound: Bound,
                precision: Sequence[float] | None = None) -> tuple[int | None, list[int] | None]:
    """The fewest bits (one width for every layer, then per layer) with bound <= epsilon.

    Returns (b, per_layer): b is the smallest width in 2..32 whose bound fits
    when every layer uses it; per_layer starts from [b] * (L+1) and lowers one
    layer at a time, the layers with the most weights first, while the bound
    (of the whole vector) still fits. Every returned width was evaluated and
    fits. (None, None) when even 32 bits do not fit (the other failures
    alone exceed epsilon).
    """
    lo, hi = BITS_RANGE
    uniform = next((b for b in range(lo, hi + 1)
                    if bound(with_bits(net, failures, b, precision)) <= epsilon), None)
    if uniform is None:
        return None, None
    per = [uniform] * (net.depth + 1)
    order = sorted(range(net.depth + 1), key=lambda i: -net.weights[i].size)
    for i in order:
        while per[i] > lo:
            trial = per.copy()
            trial[i] -= 1
            if not bound(with_bits(net, failures, trial, precision)) <= epsilon:
                break
            per = trial
    return uniform, per


def bits_report(net: Network, failures: Failures, epsilon: float,
                bounds: dict[str, Bound], precision: Sequence[float] | None = None
                ) -> dict[str, Any]:
    """`neurosim bound --epsilon` keys for the memory question, one set per named bound.

    fewest_bits_<name>: one width for every layer; fewest_bits_per_layer_<name>: per
    weight layer 1..L+1; memory_saved_<name>: 1 - (their storage) / (float32 storage),
    counting one float32 step per layer.
    """
    out: dict[str, Any] = {}
    full = memory_bits(net, None)
    for name, bound in bounds.items():
        b, per = fewest_bits(net, failures, epsilon, bound, precision)
        out[f"fewest_bits_{name}"] = b
        out[f"fewest_bits_per_layer_{name}"] = per
        out[f"memory_saved_{name}"] = None if per is None else 1 - memory_bits(net, per) / full
    return out
