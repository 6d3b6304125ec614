"""What one simulated trial produced, the same record from every engine."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurosim.data.signals import CORRECT, CORRUPTED, MISSING
from neurosim.engines.plan import TrialPlan

Array = np.ndarray


@dataclass
class TrialOutcome:
    """One trial's result.

    output: (N_{L+1},) output values, NaN where an output neuron never fired.
    fire_time[l]: (N_l,) time neuron fired (sent), inf if it never did
    within the horizon; l = 0..L+1 (inputs fire at 0).
    used[l-1]: bool (N_l, N_{l-1}), signals receiver j used when it fired
    (all False for a neuron that never fired).
    messages: sent, received, lost (crashed synapses), in_flight (still
    travelling at the horizon), used, wasted (received, not used).
    """

    output: Array
    fire_time: list[Array]
    used: list[Array]
    messages: dict[str, int]

    @property
    def blocked(self) -> bool:
        return not np.all(np.isfinite(self.fire_time[-1]))

    @property
    def latency(self) -> float:
        """Time the last output neuron fired (inf if blocked)."""
        return float(self.fire_time[-1].max())

    def layer_latency(self) -> list[float]:
        """Per layer 1..L+1: time the last neuron that fired did (NaN if none fired)."""
        out = []
        for t in self.fire_time[1:]:
            fired = t[np.isfinite(t)]
            out.append(float(fired.max()) if len(fired) else float("nan"))
        return out

    def signal_kinds(self, plan: TrialPlan) -> list[Array]:
        """Per layer 1..L+1: CORRECT/MISSING/CORRUPTED for what each receiver used.

        A receiver that never fired (crashed, or blocked) used nothing and sent
        nothing: its row is all CORRECT, as if it had computed on every signal.
        Its value reaches no one (its receivers see it as MISSING), so any row
        is sound for it; this one keeps the trial's given-set bounds within the
        worst case for the counts, which allow each receiver at most m missing.
        """
        kinds = []
        for used, replaced, t in zip(self.used, plan.replaced, self.fire_time[1:], strict=True):
            k = np.full(used.shape, MISSING, dtype=np.int8)
            k[used & ~replaced] = CORRECT
            k[used & replaced] = CORRUPTED
            k[~np.isfinite(t)] = CORRECT
            kinds.append(k)
        return kinds


def used_values(plan, l: int, y_prev: Array, used: Array) -> Array:
    """What the receivers of layer l computed with: (..., N_l, N_{l-1}).

    Used signals carry the sender's value, or the replacing one where the
    sender or synapse is Byzantine; missing ones count as 0. `plan` is a
    TrialPlan (y_prev (N_{l-1},)) or a block of them (y_prev (B, N_{l-1}),
    arrays with a leading trial axis).
    """
    replaced = plan.replaced[l - 1]
    sent = y_prev[..., None, :]
    if replaced.any():  # most layers have no Byzantine sender or synapse
        sent = np.where(replaced, plan.value[l - 1], sent)
    return np.where(used, sent, 0.0)
