"""How far the engine's float64 output error can be from the same error in real arithmetic.

A bound computed in real arithmetic (the attack's MILP and LP programs: their optimum is
the largest error of the real-valued network under the failure model) bounds what the
engine measures only once the engine's own rounding is added. Per layer, with g the gap
between the float value the engine computes and the real one (inputs are exact, g = 0):

    |fl(s_j) - s_j| <= sum_i |W_ji| g_i + rho_j      (rho_j: `summation_error` of the sum)
    |fl(phi(fl(s_j))) - phi(s_j)| <= K_l |fl(s_j) - s_j| + activation error

once for the fault-free run (its values within the intervals) and once for the faulty
run (its weights within eta of W, its values within B_i + e_i or C, e_i the weight-aware
deviation bound, which holds for the engine's values). A missing signal (0) and a
corrupted value (the same v in both arithmetics) add no gap of their own. The engine's
error fl(|F'_k - F_k|) is then within (1 + u) of |F'_k - F_k| +- (gap of F + gap of F').
On ordinary networks the gap is a few units of roundoff of the outputs' sizes; with
cancelling weights (1e16 x - 1e16 x') it is what the cancellation leaves.
"""

from __future__ import annotations

import numpy as np

from neurosim.bounds.intervals import Intervals, interval_bounds
from neurosim.bounds.rounding import activation_error, finite_or_inf, inflate, summation_error
from neurosim.bounds.weight_aware import weight_aware_layers
from neurosim.data.counts import Failures
from neurosim.data.network import Network

Array = np.ndarray


def engine_gap(net: Network, failures: Failures, intervals: Intervals | None = None) -> Array:
    """Per output, shape (N_{L+1},): a bound on |fl(F'_k) - F'_k| + |fl(F_k) - F_k| over
    the input box and every failed set of at most the counts (inf where it overflows)."""
    iv = intervals or interval_bounds(net)
    dev = weight_aware_layers(net, failures, intervals=iv)  # |y'_i - y_i|, float values
    corrupted = any(failures.corrupted)
    g = np.zeros(net.sizes[0])  # fault-free run
    gf = np.zeros(net.sizes[0])  # faulty run
    with np.errstate(invalid="ignore", over="ignore"):
        for l, (W, b) in enumerate(zip(net.weights, net.biases), start=1):
            A, n, eta = np.abs(W), W.shape[1], failures.eta[l - 1]
            B = iv.sup_abs(l - 1)
            U = np.maximum(B + dev[l - 1], failures.capacity if corrupted else 0.0)
            g = inflate(A @ g + summation_error(A @ B, b, n), 2 * n)
            gf = inflate((A + eta) @ gf + summation_error((A + eta) @ U, b, n), 2 * n)
            if l <= net.depth:
                phi = net.phis[l - 1]
                size = phi.sup_abs if phi.bounded else 0.0  # unbounded ones round exactly
                g = inflate(phi.lipschitz * g + activation_error(phi.name, size), 2)
                gf = inflate(phi.lipschitz * gf + activation_error(phi.name, size), 2)
    return finite_or_inf(inflate(g + gf, 1))


def float_error_bound(real_bound: float, gap: Array) -> float:
    """A bound on the engine's measured error from a bound on the real-arithmetic one."""
    return float(finite_or_inf(inflate(real_bound + float(np.max(gap)), 2)))
