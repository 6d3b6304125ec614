"""Units for the worst-case program: every row of order 1, and where that cannot be had,
no proof.

HiGHS works to absolute tolerances (feasibility 1e-7 to 1e-6, and it drops matrix
entries below 1e-9). With a hidden layer's weights of 1e-8 the program's rows were
of that size: its "optimum" was 0 (the coefficients dropped) or half of an error the
engine attains, and both were reported as proven. Two remedies:

- units: the inputs, each relu/identity hidden layer and the outputs are measured
  in a power of 2 near their largest interval bound (relu and identity commute with a
  positive scale, and a power of 2 is exact in float64 away from overflow and the
  subnormals), so the program's variables and rows are of order 1;
- a reach: what HiGHS's tolerances could move an output by in those units, the
  per-row tolerance propagated through the network's absolute weights. Where that
  is not small against the program's answer (a hidden neuron whose weights are
  tiny next to its bias, say: its variation is below the tolerance however it is
  scaled), the answer is no proof: the sound deviation bound stands in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurosim.bounds.intervals import interval_bounds
from neurosim.data.network import Network, make_network

Array = np.ndarray

HOMOGENEOUS = ("relu", "identity")  # phi(c s) = c phi(s) for c > 0
TOLERANCE = 1e-6  # HiGHS's largest default absolute tolerance (MIP feasibility)
# The program's answer counts as proven only if the tolerances' reach is below this
# fraction of it.
TRUSTED = 2e-2


@dataclass
class Units:
    """Powers of 2: inputs (N_0,), per hidden layer (N_l,), and one for the outputs."""

    inputs: Array
    hidden: list[Array]
    output: float


def _pow2(m: Array) -> Array:
    """2^e with 2^(e-1) <= m < 2^e for finite m > 0, 1 elsewhere; e kept within
    [-900, 900] (so rescaled weights neither overflow nor become subnormal by it)."""
    m = np.asarray(m, dtype=float)
    ok = np.isfinite(m) & (m > 0)
    e = np.clip(np.frexp(np.where(ok, m, 1.0))[1], -900, 900)
    return np.where(ok, np.ldexp(1.0, e), 1.0)


def choose_units(net: Network, scalable: bool) -> Units:
    """Units from the interval bounds (all 1 when not `scalable`, e.g. with Byzantine
    values of capacity C, which is one number for every sender)."""
    iv = interval_bounds(net)
    big = lambda l: np.maximum(np.abs(iv.pre_low[l]), np.abs(iv.pre_high[l]))  # noqa: E731
    if not scalable:
        return Units(np.ones(net.sizes[0]), [np.ones(n) for n in net.sizes[1:-1]], 1.0)
    # One unit per layer, not per neuron: per neuron, a neuron that is near 0 in the
    # fault-free copy got a tiny unit while crashes move it by far more, and HiGHS then
    # proved half of an attained error on a program whose rows were all of order 1.
    hidden = [np.full(net.sizes[l], _pow2(np.max(big(l), initial=0.0))
                      if net.activations[l - 1] in HOMOGENEOUS else 1.0)
              for l in range(1, net.depth + 1)]
    top = np.max(np.maximum(np.abs(net.input_low), np.abs(net.input_high)), initial=0.0)
    return Units(np.full(net.sizes[0], _pow2(top)), hidden,
                 float(_pow2(np.max(big(net.depth + 1), initial=0.0))))


def rescaled(net: Network, u: Units) -> Network:
    """The network in units u: x' = x / u_in, y'_l = y_l / u_l, F' = F / u_out (exact)."""
    scale = [u.inputs] + list(u.hidden) + [np.full(net.sizes[-1], u.output)]
    W = [net.weights[l] * scale[l][None, :] / scale[l + 1][:, None] for l in range(len(scale) - 1)]
    b = [net.biases[l] / scale[l + 1] for l in range(len(scale) - 1)]
    return make_network(W, b, list(net.activations), net.input_low / u.inputs,
                        net.input_high / u.inputs)


def tolerance_reach(net: Network) -> float:
    """How far an output could move (in the units of `net`) if every row and bound of the
    program were off by TOLERANCE: the per-row slack propagated through |W| (relu,
    identity and hard_sigmoid have slopes at most 1), times 4 for the rows
    per neuron (pre-activation, kink, keep, and the faulty copy)."""
    e = np.ones(net.sizes[0])
    for W in net.weights:
        e = np.abs(W) @ (e + 1.0) + 1.0
    return float(4.0 * TOLERANCE * np.max(e, initial=0.0))
