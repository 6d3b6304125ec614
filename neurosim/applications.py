"""summary.json keys of the paper's other applications: quantized weights, random failures,
trained networks (orchestration: it reads the bounds and the trials).

`Applications` follows a run trial by trial (`observe`) and adds its keys
to the summary (`keys`):

- with `bits`: the bits and eta per layer, the weights' memory against
  float32, and with [firing] epsilon the fewest bits the bound certifies;
- with `crash_probability` / `synapse_crash_probability`: the error's and
  the realised counts' distributions, the expected-error bound (weight-aware
  and paper, `neurosim.bounds.expected`), and the worst-case bound at the
  p99 of the realised counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from neurosim.bounds.bits import bits_report
from neurosim.bounds.expected import expected_error_bound, support_size
from neurosim.bounds.linear_intervals import network_intervals
from neurosim.bounds.paper import paper_fep
from neurosim.bounds.weight_aware import weight_aware_bound
from neurosim.data.counts import Failures, per_layer
from neurosim.data.quantize import bits_per_layer, memory_bits
from neurosim.data.random_failures import missing_distribution, probabilities
from neurosim.engines.plan import TrialPlan
from neurosim.setup import Setup


class CachedBounds:
    """Weight-aware and paper bounds per count vector, each computed once."""

    def __init__(self, setup: Setup) -> None:
        self.net = setup.net
        self.iv = network_intervals(self.net)
        self.cache: dict[tuple, tuple[float, float]] = {}

    def __call__(self, failures: Failures) -> tuple[float, float]:
        key = (failures.missing, failures.corrupted, failures.eta, failures.capacity)
        if key not in self.cache:
            self.cache[key] = (weight_aware_bound(self.net, failures, intervals=self.iv),
                               paper_fep(self.net, failures).fep)
        return self.cache[key]


@dataclass
class Applications:
    """What a run needs to report quantized weights and random failures."""

    setup: Setup
    p: list[float] = field(init=False)
    q: list[float] = field(init=False)
    realised: list[tuple[int, ...]] = field(default_factory=list)
    drawn: list[tuple[int, ...]] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)
    # Trials whose receivers missed more than the declared counts plus the random
    # failures (a timeout fired before some correct signal arrived).
    beyond_random: int = 0
    blocked: int = 0

    def __post_init__(self) -> None:
        self.p, self.q = probabilities(self.setup.scenario, self.setup.net)

    @property
    def random(self) -> bool:
        """Random failures given (even with probability 0: a sweep's first point)."""
        f = self.setup.scenario.failures
        return f.crash_probability is not None or f.synapse_crash_probability is not None

    def observe(self, plan: TrialPlan, counts: Failures, error: float, blocked: bool) -> None:
        """One trial: its realised counts (per receiving layer) and its error."""
        if not self.random:
            return
        drawn = []
        for l in range(1, self.setup.net.depth + 2):
            r = int(plan.crashed[l - 1].sum()) if l >= 2 and self.p[l - 2] > 0 else 0
            if self.q[l - 1] > 0:
                r += int(plan.lost[l - 1].sum(axis=1).max(initial=0))
            drawn.append(r)
        declared = self.setup.failures.missing
        if any(m > d + r for m, d, r in zip(counts.missing, declared, drawn, strict=True)):
            self.beyond_random += 1
        self.realised.append(counts.missing)
        self.drawn.append(tuple(drawn))
        self.blocked += int(blocked)
        if not blocked:
            self.errors.append(error)

    def keys(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.setup.training is not None:
            out.update(self.setup.training)
        if self.setup.tolerated_crashes is not None:
            out["tolerated_crashes"] = self.setup.tolerated_crashes
            out["epsilon"] = self.setup.scenario.firing.epsilon
        if self.setup.scenario.failures.bits is not None:
            out.update(quantization_keys(self.setup))
        if self.random:
            out.update(self.random_keys())
        return out

    def random_keys(self) -> dict[str, Any]:
        setup = self.setup
        net, base = setup.net, setup.failures
        bounds = CachedBounds(setup)
        realised = np.array(self.realised, dtype=float).reshape(-1, net.depth + 1)
        p99 = tuple(int(np.ceil(np.percentile(c, 99))) if len(c) else 0 for c in realised.T)
        errors = np.array(self.errors)

        def q(a: np.ndarray, pct: float) -> float | None:
            return float(np.percentile(a, pct)) if len(a) else None

        at_p99 = replace(base, missing=tuple(
            min(max(m, r), n - z) for m, r, n, z in
            zip(base.missing, p99, net.sizes[:-1], base.corrupted, strict=True)))
        # The expected bound needs error <= bound(declared + drawn) in every trial:
        # no blocked trial and no signal missed beyond the failures.
        applies = self.blocked == 0 and self.beyond_random == 0
        expected = expected_keys(setup, bounds)
        if not applies:
            expected["expected_error_bound"] = expected["expected_error_bound_paper"] = None
        return {
            **expected,
            "error_p50": q(errors, 50),
            "error_p99": q(errors, 99),
            "realised_missing_mean": [float(c.mean()) for c in realised.T] if len(realised)
            else None,
            "realised_missing_p99": list(p99),
            "realised_missing_max": [int(c.max()) for c in realised.T] if len(realised)
            else None,
            "bound_weight_aware_at_p99_counts": bounds(at_p99)[0],
            "bound_paper_at_p99_counts": bounds(at_p99)[1],
            "trials_beyond_random_counts": self.beyond_random,
        }


def expected_keys(setup: Setup, bounds: CachedBounds | None = None) -> dict[str, Any]:
    """The expected-error bound of the scenario's random failures, without simulating.

    It bounds the mean error over trials that produce an output and miss no
    signal beyond their failures (docs/bounds.md, "Random failures").
    """
    net, base = setup.net, setup.failures
    bounds = bounds or CachedBounds(setup)
    p, q = probabilities(setup.scenario, net)
    dists = missing_distribution(net, p, q)
    return {
        "crash_probability": p,
        "synapse_crash_probability": q,
        "expected_missing": [float(np.arange(len(d)) @ d) for d in dists],
        "expected_error_bound": expected_error_bound(net, base, dists,
                                                     lambda f: bounds(f)[0]),
        "expected_error_bound_paper": expected_error_bound(net, base, dists,
                                                           lambda f: bounds(f)[1]),
        "expected_bound_support": support_size(net, base, dists),
    }


def quantization_keys(setup: Setup) -> dict[str, Any]:
    """Bits, eta and memory of the quantized weights; the certified bits with epsilon."""
    scn, net = setup.scenario, setup.net
    bits = bits_per_layer(scn.failures.bits, net)
    full = memory_bits(net, None)
    out: dict[str, Any] = {
        "bits_per_layer": bits,
        "weight_precision_per_layer": list(setup.failures.eta),
        "memory_bits": memory_bits(net, bits),
        "memory_bits_float32": full,
        "memory_saved_vs_float32": 1 - memory_bits(net, bits) / full,
    }
    epsilon = scn.firing.epsilon
    if epsilon is not None:
        bounds = CachedBounds(setup)
        precision = per_layer(scn.failures.precision, net.depth + 1, "precision")
        report = bits_report(net, setup.failures, epsilon,
                             {"weight_aware": lambda f: bounds(f)[0],
                              "paper": lambda f: bounds(f)[1]}, precision)
        out["epsilon"] = epsilon
        out.update({k.replace("fewest_bits", "certified_bits"): v for k, v in report.items()
                    if k.startswith("fewest_bits")})
    return out
