"""Failure counts as the bounds see them: per *receiving* layer l = 1..L+1.

Every failure reaches a receiver j of layer l as one of three kinds of signal
from layer l-1 (`neurosim.data.signals`):

- correct: the value sent, carrying the upstream deviation;
- missing: nothing used in its place but 0 (a crashed neuron, a lost message,
  a signal the receiver stopped waiting for) -- deviation at most B_{l-1};
- corrupted: an arbitrary value in [-C, C] (a Byzantine neuron or synapse) --
  deviation at most C + B_{l-1}.

The counts are *upper limits*: each receiver of layer l misses at most
`missing[l-1]` and gets at most `corrupted[l-1]` corrupted signals, any of
them, a different set at each receiver. A quorum receiver may skip a
corrupted signal and use one more correct one; a neuron that crashes late
may still have sent to some receivers. The bounds hold for every such split
(docs/bounds.md, "At most the counts").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from neurosim.data.network import Network


@dataclass(frozen=True)
class Failures:
    """Counts per receiving layer l = 1..L+1 (tuples of length L+1).

    missing[l-1], corrupted[l-1]: the most signals from layer l-1 that a
    receiver of layer l misses / gets corrupted. eta[l-1]: the largest error of a
    stored weight of W^(l). capacity: C, the Byzantine transmission capacity.
    """

    missing: tuple[int, ...]
    corrupted: tuple[int, ...]
    eta: tuple[float, ...]
    capacity: float = 1.0

    @property
    def any(self) -> bool:
        return any(self.missing) or any(self.corrupted) or any(self.eta)


def per_layer(value: float | Sequence[float], n: int, name: str) -> list:
    """Broadcast a scalar to `n` layers, or check a list has length `n`."""
    if isinstance(value, (int, float)):
        return [value] * n
    value = list(value)
    if len(value) != n:
        raise ValueError(f"{name}: expected a scalar or {n} values, got {len(value)}")
    return value


def failure_counts(
    net: Network,
    crash: int | Sequence[int] = 0,
    byzantine: int | Sequence[int] = 0,
    synapse_crash: int | Sequence[int] = 0,
    synapse_byzantine: int | Sequence[int] = 0,
    precision: float | Sequence[float] = 0.0,
    capacity: float = 1.0,
    skipped: int | Sequence[int] = 0,
) -> Failures:
    """Failures from the scenario's counts.

    crash, byzantine: failed neurons per hidden layer 1..L (length L).
    synapse_crash, synapse_byzantine: failed synapses into each receiver of
    layer 1..L+1 (length L+1). precision: eta per weight layer 1..L+1.
    skipped: signals each receiver of layer 1..L+1 does not wait for
    (boosting: N_{l-1} - quorum_l). Signals that never arrive (crashed
    senders, lost messages) are among the skipped ones, so a receiver misses
    max(crash + synapse_crash, skipped) signals.
    """
    L = net.depth
    sizes = net.sizes
    crash = [0] + per_layer(crash, L, "crash")
    byz = [0] + per_layer(byzantine, L, "byzantine")
    scrash = per_layer(synapse_crash, L + 1, "synapse_crash")
    sbyz = per_layer(synapse_byzantine, L + 1, "synapse_byzantine")
    eta = per_layer(precision, L + 1, "precision")
    skip = per_layer(skipped, L + 1, "skipped")
    missing, corrupted = [], []
    for l in range(1, L + 2):
        m = max(crash[l - 1] + scrash[l - 1], skip[l - 1])
        z = byz[l - 1] + sbyz[l - 1]
        if m + z > sizes[l - 1]:
            raise ValueError(
                f"layer {l} receivers would miss or get corrupted {m + z} of "
                f"{sizes[l - 1]} signals"
            )
        missing.append(int(m))
        corrupted.append(int(z))
    return Failures(tuple(missing), tuple(corrupted), tuple(float(e) for e in eta), capacity)
