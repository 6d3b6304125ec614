"""Sums over the failed signals alone, for layers where a correct signal adds exactly 0.

A given-set bound sums one term per signal into each receiver. Where nothing
deviates among the senders and the weights are exact (eta = 0), a correct
signal's term is exactly 0, and the failed signals are few (a quorum skips a
handful of a receiver's hundreds). Summing a whole (receivers, senders) array
per trial is then mostly a sum of zeros: here only the failed signals are
visited, and each receiver's terms are added one after the other in sender
order (`np.bincount` accumulates its weights in the order given).

The result can differ from a full row sum in the last bits (the terms are
grouped differently); the bounds' rounding terms cover any order of summation
(`neurosim.bounds.rounding`), so both are sound. What keeps the bounds
reproducible is that the same function is used for one trial and for a block
of trials, and that the choice between the two ways depends on the trial's own
values only, never on the block it is in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from neurosim.data.signals import CORRECT, CORRUPTED, MISSING

Array = np.ndarray


@dataclass(frozen=True)
class FailedSignals:
    """Where the signals failed in kind (..., N_l, N_{l-1}), flattened in C order.

    row: the receiver's row in kind.reshape(-1, N_{l-1}); sender: its sender index;
    weight: the signal's place in (N_l, N_{l-1}); corrupted: bool, else missing.
    """

    row: Array
    sender: Array
    weight: Array
    corrupted: Array
    n_rows: int
    shape: tuple[int, ...]

    @classmethod
    def of(cls, kind: Array, missing_only: bool = False) -> FailedSignals:
        """The failed signals of kind; missing_only: the caller knows that no signal is
        CORRUPTED (int8 kinds of 0 and 1 then read as bools, without a comparison)."""
        n_l, n = kind.shape[-2:]
        if missing_only and kind.dtype == np.int8 and (CORRECT, MISSING) == (0, 1):
            at = np.flatnonzero(kind.view(np.bool_))
            corrupted = np.zeros(len(at), dtype=bool)
        else:
            at = np.flatnonzero(kind != CORRECT)
            corrupted = kind.reshape(-1)[at] == CORRUPTED
        return cls(row=at // n, sender=at % n, weight=at % (n_l * n), corrupted=corrupted,
                   n_rows=kind.size // n if n else 0, shape=kind.shape[:-1])

    def sums(self, terms: Array) -> Array:
        """Each receiver's sum of `terms` (one per failed signal, in the order found), in
        sender order; 0.0 where none failed. Shape kind.shape[:-1]."""
        out = np.bincount(self.row, weights=terms, minlength=self.n_rows)
        return out.reshape(self.shape)

    @property
    def trial(self) -> Array:
        """The leading index (the trial in a block) of each failed signal; 0 for one trial."""
        return self.row // self.shape[-1]

    def per_trial(self, corrupted_only: bool = False) -> Array:
        """(T,) bool for kind (T, N_l, N_{l-1}): whether any signal of the trial failed (was
        corrupted)."""
        trial = self.trial[self.corrupted] if corrupted_only else self.trial
        return np.bincount(trial, minlength=self.shape[0]) > 0

    def per_receiver(self, corrupted: bool) -> Array:
        """How many signals each receiver missed (corrupted: got corrupted), int64 of kind's
        shape without its last axis."""
        rows = self.row[self.corrupted == corrupted]
        return np.bincount(rows, minlength=self.n_rows).reshape(self.shape)


def failure_box(W: Array, y_lo: Array, y_hi: Array, eta: float, C: float,
                failed: FailedSignals) -> tuple[Array, Array]:
    """The signed bound's failure term r of each receiver (lower, upper), from the failed
    signals alone: a missing signal adds -W_ji y'_i, a corrupted one that plus
    [-(|W_ji| + eta) C, (|W_ji| + eta) C], for y'_i in [y_lo_i, y_hi_i].

    For layers where a correct signal's precision term eta |y'_i| is exactly 0.
    W (N_l, N_{l-1}); y_lo, y_hi (N_{l-1},), or (T, N_{l-1}) for a block whose trials
    receive different values. Returns two arrays of kind's shape without its last axis:
    each receiver's terms added one after the other in sender order, from 0.0 (what
    `FailedSignals.sums` of the terms gives), in one compiled pass (`_failure_sums`).
    """
    lo, hi = np.zeros(failed.n_rows), np.zeros(failed.n_rows)
    per_trial = np.ndim(y_lo) > 1
    _failure_sums(np.ascontiguousarray(W).reshape(-1), failed.row, failed.sender,
                  failed.weight, failed.corrupted, np.ascontiguousarray(y_lo).reshape(-1),
                  np.ascontiguousarray(y_hi).reshape(-1),
                  W.shape[0] if per_trial else 0, W.shape[1], float(eta), float(C), lo, hi)
    return lo.reshape(failed.shape), hi.reshape(failed.shape)


@njit(cache=True)
def _failure_sums(w_all: Array, row: Array, sender: Array, weight: Array,
                  corrupted: Array, y_lo: Array, y_hi: Array, receivers: int, n: int,
                  eta: float, C: float, lo: Array, hi: Array) -> None:
    """lo[row] += min(p, q) - extra, hi[row] += max(p, q) + extra for each failed signal
    in turn, p, q = -w y_lo, -w y_hi: numpy's minimum and maximum (NaN kept) and the
    order of np.bincount. receivers: N_l where each trial has its own values (y_lo
    (T * n,)), else 0."""
    for i in range(len(row)):
        w = w_all[weight[i]]
        at = sender[i] + (row[i] // receivers) * n if receivers else sender[i]
        p, q = -w * y_lo[at], -w * y_hi[at]
        low = p if (p < q or p != p) else q
        high = p if (p > q or p != p) else q
        extra = (abs(w) + eta) * C if corrupted[i] else 0.0
        lo[row[i]] += low - extra
        hi[row[i]] += high + extra
