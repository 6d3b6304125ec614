"""Weights stored in b-bit symmetric fixed point (the paper's memory-cost question).

Layer l's weights are stored as integers k in [-(2^(b-1) - 1), 2^(b-1) - 1]
times one step per layer,

    Delta_l = max_ji |W_ji| / (2^(b-1) - 1),    w_q = Delta_l * round(w / Delta_l),

so the largest weight is stored exactly and every stored weight is off by
at most Delta_l / 2: reduced precision eta_l = Delta_l / 2 in the bounds'
terms, but deterministic (the same stored weights in every trial and in
both engines). Biases are kept in full precision.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from neurosim.data.counts import per_layer
from neurosim.data.network import Network

Array = np.ndarray

BITS_RANGE = (2, 32)
FLOAT32_BITS = 32


def quantization_step(W: Array, bits: int) -> float:
    """Delta = max|W| / (2^(bits-1) - 1): the weight of one unit of the stored integer."""
    return float(np.abs(W).max(initial=0.0)) / (2 ** (bits - 1) - 1)


def quantize(W: Array, bits: int) -> Array:
    """W rounded to `bits`-bit symmetric fixed point (same shape; W itself if all zero)."""
    step = quantization_step(W, bits)
    if step == 0.0:
        return np.array(W, dtype=float)
    return step * np.round(W / step)


def quantization_eta(W: Array, bits: int) -> float:
    """The largest error of a stored weight: Delta / 2, and never below the largest
    |w_q - w| in float64 (the product Delta * round(w / Delta) is itself rounded).

    A relative margin of 2^-50 covers the rounding of that difference.
    """
    step = quantization_step(W, bits)
    if step == 0.0:
        return 0.0
    diff = float(np.abs(quantize(W, bits) - W).max())
    return max(step / 2, diff) * (1 + 2.0 ** -50)


def bits_per_layer(bits: int | Sequence[int] | None, net: Network) -> list[int] | None:
    """The bits of each weight layer 1..L+1 (None: full float64 precision)."""
    if bits is None:
        return None
    return [int(b) for b in per_layer(bits, net.depth + 1, "bits")]


def stored_weights(net: Network, bits: int | Sequence[int] | None) -> list[Array]:
    """W^(1..L+1) as stored: quantized when `bits` is given, else the network's own."""
    per = bits_per_layer(bits, net)
    if per is None:
        return list(net.weights)
    return [quantize(W, b) for W, b in zip(net.weights, per, strict=True)]


def quantization_etas(net: Network, bits: int | Sequence[int] | None) -> list[float]:
    """eta_l per weight layer 1..L+1 (zeros when `bits` is None)."""
    per = bits_per_layer(bits, net)
    if per is None:
        return [0.0] * (net.depth + 1)
    return [quantization_eta(W, b) for W, b in zip(net.weights, per, strict=True)]


def memory_bits(net: Network, bits: int | Sequence[int] | None) -> int:
    """Bits to store every weight (32 per weight for float32 when `bits` is None).

    The per-layer step is one float32 more per layer.
    """
    per = bits_per_layer(bits, net)
    if per is None:
        return FLOAT32_BITS * net.n_weights
    return sum(W.size * b + FLOAT32_BITS for W, b in zip(net.weights, per, strict=True))


def total_precision(net: Network, precision: float | Sequence[float],
                    bits: int | Sequence[int] | None) -> list[float]:
    """eta per weight layer 1..L+1 that the bounds take: the scenario's precision plus its
    quantization's."""
    per = per_layer(precision, net.depth + 1, "precision")
    return [p + q for p, q in zip(per, quantization_etas(net, bits), strict=True)]


def beyond_precision(used: Array, W: Array, eta: float) -> Array:
    """Elementwise: whether |used - W| > eta, exactly (not as float64 rounds the difference).

    d = fl(used - W) and its rounding error e (Knuth's TwoSum) give the real difference
    d + e, |e| <= half an ulp of d: since eta is a float, |d| > eta or |d| < eta decide,
    and at |d| = eta the sign of e does. An overflowing difference is beyond.
    """
    used, W = np.asarray(used, dtype=float), np.asarray(W, dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        d = used - W
        back = d - used
        e = (used - (d - back)) + (-W - back)
        at_edge = (np.abs(d) == eta) & (d * e > 0)
        return ~(np.abs(d) <= eta) | at_edge


def within_precision(used: Array, W: Array, eta: float) -> Array:
    """`used` (W plus errors of at most eta, as float64 rounded the sum) moved to the nearest
    float64 within eta of W, exactly: the bounds assume every stored weight is off by at
    most eta, and W + eta can round above W + eta. A value still beyond after a few steps
    toward W (none should be) becomes W itself."""
    out = np.array(used, dtype=float)
    W = np.asarray(W, dtype=float)
    for _ in range(4):
        beyond = beyond_precision(out, W, eta)
        if not beyond.any():
            return out
        out = np.where(beyond, np.nextafter(out, W), out)
    return np.where(beyond_precision(out, W, eta), W, out)

