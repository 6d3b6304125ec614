"""The paper's Forward Error Propagation bound (docs/bounds.md).

Uses only the layer sizes, the largest weight w_m^(l), the Lipschitz
constants K_l and the value bounds B_l. The recursion, per receiving layer
l = 1..L+1 with N = N_{l-1} senders of which m are missing and z corrupted:

    T_l = (N - m - z) * ((w_m + eta) * delta_{l-1} + eta * B_{l-1})   correct signals
          + m * w_m * B_{l-1}                                           missing ones
          + z * (w_m * (C + B_{l-1}) + eta * C)                         corrupted ones
    delta_l = K_l * T_l  (l <= L),      Fep = T_{L+1}

With eta = 0 and only crashes it is the paper's
delta_l = K_l w_m ((N - f) delta_{l-1} + f B_{l-1}), whose unrolling is the
paper's closed form (`paper_fep_closed_form`). That is the paper's bound as
it states it: *exactly* m missing and z corrupted signals (`fep_exact_f`).

The bound neurosim certifies with (`fep`) holds for *at most* those counts
and for float64. With c, a, r the per-signal deviations of a correct,
missing and corrupted signal (the three terms above),

    T_l = N c + (m + z) (a - c)^+ + z (r - a)

(a correct signal may deviate by more than a missing one, c > a, when
delta_{l-1} > B_{l-1}: then fewer failures do more harm, and the exact-f
form is not an upper bound), plus the rounding of the sums and activations
(`neurosim.bounds.rounding`) wherever the deviation is non-zero. Term by
term it dominates the weight-aware bound's at-most form, so the chain
weight-aware <= paper holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurosim.bounds.intervals import layer_sup
from neurosim.bounds.rounding import (
    activation_error,
    finite_or_inf,
    inflate,
    may_overflow,
    overflow_slack,
    summation_error,
)
from neurosim.data.counts import Failures
from neurosim.data.network import Network


@dataclass(frozen=True)
class PaperBound:
    """Fep and its parts.

    fep: the bound on the output error (max-norm over outputs) for at most
    the counts, float64-sound: the one to certify with.
    fep_exact_f: the paper's Fep as the paper states it (exactly the counts,
    real arithmetic).
    delta: delta_l for l = 0..L of `fep` (delta_0 = 0, inputs exact).
    contribution: the part of fep_exact_f due to the failures into layer
    l = 1..L+1; they sum to fep_exact_f.
    B, w_max, K: the constants used, per layer.
    """

    fep: float
    fep_exact_f: float
    delta: list[float]
    contribution: list[float]
    B: list[float]
    w_max: list[float]
    K: list[float]


def paper_fep(net: Network, failures: Failures) -> PaperBound:
    """The paper's Fep for `failures` on `net`: at most the counts, and exactly them."""
    B = layer_sup(net)
    w_max = [float(np.abs(W).max()) for W in net.weights]
    K = [phi.lipschitz for phi in net.phis] + [1.0]  # the output layer is linear
    fep_exact, contribution = _exact_f(net, failures, B, w_max, K)
    fep, delta = _at_most(net, failures, B, w_max, K)
    return PaperBound(fep, fep_exact, delta, contribution, B, w_max, K[:net.depth])


def _at_most(net: Network, failures: Failures, B: list[float], w_max: list[float],
             K: list[float]) -> tuple[float, list[float]]:
    """fep and delta_l for at most the counts, with the float64 rounding terms."""
    sizes, L, C = net.sizes, net.depth, failures.capacity
    delta = [0.0]
    with np.errstate(invalid="ignore", over="ignore"):
        for l in range(1, L + 2):
            N, m, z = sizes[l - 1], failures.missing[l - 1], failures.corrupted[l - 1]
            w, eta, b, dl = w_max[l - 1], failures.eta[l - 1], B[l - 1], delta[-1]
            c = (w + eta) * dl + eta * b
            a = w * b
            T = N * c + (m + z) * max(a - c, 0.0) + z * C * (w + eta)
            # A term positive in real arithmetic may round to 0 (eta B = 2^-1075) while
            # the runs differ by TINY: the rounding terms go wherever a term's factors
            # are all positive, whatever T rounded to.
            positive = (N and ((w + eta > 0 and dl > 0) or (eta > 0 and b > 0))) \
                or (m + z and w > 0 and b > 0) or (z and C > 0 and w + eta > 0)
            if T > 0 or positive:
                bias = float(np.abs(net.biases[l - 1]).max())
                faulty = N * (w + eta) * max(b + dl, C if z else 0.0)
                T = (inflate(T, 8) + summation_error(faulty, bias, N)
                     + summation_error(N * w * b, bias, N))
                # NaN possible: no K or range bounds it (wherever the weight-aware
                # bound, whose faulty sum is never larger, says so).
                if may_overflow(faulty, bias, N, 2 * overflow_slack(N)):
                    T = np.inf
            T = float(finite_or_inf(T))
            if l > L:
                return T, delta
            phi = net.phis[l - 1]
            d = K[l - 1] * T
            if T > 0:
                d = inflate(d + 2 * activation_error(phi.name, phi.sup_abs if phi.bounded
                                                     else 0.0), 4)
            delta.append(float(finite_or_inf(d)))
    raise AssertionError("unreachable")


def _exact_f(net: Network, failures: Failures, B: list[float], w_max: list[float],
             K: list[float]) -> tuple[float, list[float]]:
    """The paper's recursion with exactly the counts, and each layer's contribution."""
    sizes, L, C = net.sizes, net.depth, failures.capacity
    delta = [0.0]
    gain, added = [], []  # T_l = gain_l * delta_{l-1} + added_l
    for l in range(1, L + 2):
        N, m, z = sizes[l - 1], failures.missing[l - 1], failures.corrupted[l - 1]
        w, eta, b = w_max[l - 1], failures.eta[l - 1], B[l - 1]
        correct = N - m - z
        gain.append(correct * (w + eta))
        added.append(correct * eta * b + m * w * b + z * (w * (C + b) + eta * C))
        T = gain[-1] * delta[-1] + added[-1]
        if l <= L:
            delta.append(K[l - 1] * T)
        else:
            fep = T
    # What the failures entering layer l add at the output: added_l times the
    # amplification of every later layer.
    contribution = []
    for l in range(1, L + 2):
        amp = K[l - 1] if l <= L else 1.0
        for later in range(l + 1, L + 2):
            amp *= gain[later - 1] * (K[later - 1] if later <= L else 1.0)
        contribution.append(added[l - 1] * amp)
    return float(fep), contribution


def paper_fep_closed_form(net: Network, crash: list[int], byzantine: list[int] | None = None,
                          capacity: float = 1.0) -> float:
    """The paper's closed form for neuron failures only (f_l per hidden layer, no precision).

        Fep = sum_l f_l D_l w_m^(L+1) prod_{l'=l+1..L} K_l' (N_l' - f_l') w_m^(l')

    with D_l = B_l for crashes and C + B_l for Byzantine neurons (K_l of the
    failing layer is not in the product: a failed neuron's deviation is D_l
    whatever its input). Kept apart from `paper_fep` as an independent check
    of the recursion.
    """
    L, sizes = net.depth, net.sizes
    byzantine = byzantine or [0] * L
    B = layer_sup(net)
    w_max = [float(np.abs(W).max()) for W in net.weights]
    K = [phi.lipschitz for phi in net.phis]
    total = 0.0
    for l in range(1, L + 1):
        f_c, f_b = crash[l - 1], byzantine[l - 1]
        term = (f_c * B[l] + f_b * (capacity + B[l])) * w_max[L]
        for lp in range(l + 1, L + 1):
            f = crash[lp - 1] + byzantine[lp - 1]
            term *= K[lp - 1] * (sizes[lp] - f) * w_max[lp - 1]
        total += term
    return total
