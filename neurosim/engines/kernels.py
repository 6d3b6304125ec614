"""Compiled kernels of the batched engine: one layer of a block of trials, a receiver at a time.

`receive_layer` does for each receiver what `neurosim.engines.fast` does with
whole-array numpy operations (arrivals, the firing rule's time, the signals
used, the preactivation sum), in one pass over the receiver's row while it
is in the cache. Everything it returns is bit-identical to the numpy engines':

- the k-th smallest arrival is a value, the same whichever way it is found;
- the signals used are ranked by (arrival, sender index), as a stable sort
  ranks them;
- the sum of a row's products follows numpy's own order for a contiguous
  row (`neurosim.data.pairwise`), so that a receiver's value is the SimPy
  engine's, bit for bit.

Compiled with numba on first use (cached on disk afterwards).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from neurosim.data.pairwise import numpy_sum, stacks

# numba caches a kernel by the text of the file that defines it alone, and these kernels
# inline neurosim/data/pairwise.py: this digest of that file (tests/test_kernels.py
# checks it) changes this file's text, and so its cache, whenever that file changes.
PAIRWISE_DIGEST = "2d5c038cbc35f39f"

Array = np.ndarray

# Up to this many order statistics are kept in a small sorted buffer while the row
# streams past; beyond it, a selection in a copy of the row.
SMALL = 32


@njit(cache=True)
def _largest(row: Array, m: int, buf: Array) -> float:
    """The m-th largest value of row (m <= len(buf)): the m largest kept sorted."""
    count = 0
    for x in row:
        if count < m:  # fill: insertion into buf[:count+1], ascending
            pos = count
            while pos > 0 and buf[pos - 1] > x:
                buf[pos] = buf[pos - 1]
                pos -= 1
            buf[pos] = x
            count += 1
        elif x > buf[0]:  # x displaces the smallest kept
            pos = 0
            while pos + 1 < m and buf[pos + 1] < x:
                buf[pos] = buf[pos + 1]
                pos += 1
            buf[pos] = x
    return buf[0]


@njit(cache=True)
def _smallest(row: Array, m: int, buf: Array) -> float:
    """The m-th smallest value of row (m <= len(buf)): the m smallest kept sorted."""
    count = 0
    for x in row:
        if count < m:
            pos = count
            while pos > 0 and buf[pos - 1] < x:
                buf[pos] = buf[pos - 1]
                pos -= 1
            buf[pos] = x  # descending: buf[0] the largest kept
            count += 1
        elif x < buf[0]:
            pos = 0
            while pos + 1 < m and buf[pos + 1] > x:
                buf[pos] = buf[pos + 1]
                pos += 1
            buf[pos] = x
    return buf[0]


@njit(cache=True)
def _select(c: Array, target: int) -> float:
    """The value of rank `target` (0-based) of c, reordering c: quickselect, Hoare's
    partition about a median of three (equal values stop both scans, so a row of
    equal arrivals, a constant latency, still splits in halves)."""
    lo, hi = 0, len(c) - 1
    while lo < hi:
        a, b, d = c[lo], c[(lo + hi) // 2], c[hi]
        pivot = max(min(a, b), min(max(a, b), d))  # the median of three
        i, j = lo, hi
        while i <= j:
            while c[i] < pivot:
                i += 1
            while c[j] > pivot:
                j -= 1
            if i <= j:
                c[i], c[j] = c[j], c[i]
                i += 1
                j -= 1
        # Now c[lo..j] <= pivot, c[i..hi] >= pivot, and anything between equals it.
        if target <= j:
            hi = j
        elif target >= i:
            lo = i
        else:
            return pivot
    return c[target]


@njit(cache=True)
def _max(row: Array, sign: float = 1.0) -> float:
    """The largest value of row (sign 1.0), or the smallest (-1.0: the largest of -row,
    negated, exactly): four running maxima (a maximum does not round, so any order gives
    it; one chain would wait on each comparison)."""
    n = len(row)
    m0 = m1 = m2 = m3 = -np.inf
    j = 0
    while j + 4 <= n:
        m0 = max(m0, sign * row[j])
        m1 = max(m1, sign * row[j + 1])
        m2 = max(m2, sign * row[j + 2])
        m3 = max(m3, sign * row[j + 3])
        j += 4
    while j < n:
        m0 = max(m0, sign * row[j])
        j += 1
    return sign * max(max(m0, m1), max(m2, m3))


@njit(cache=True)
def _largest_by_groups(row: Array, m: int, buf: Array, work: Array) -> tuple[float, float]:
    """(the m-th largest value of row, its largest), m <= len(buf), 8 m <= len(row), work
    (len(row),) scratch.

    Cut the row into m groups: the smallest of their m largest values is reached by m
    distinct values, so it is a lower bound of the row's m-th largest, and only the
    values that reach it can be the answer. A pass for the groups' largest values (four
    independent running maxima each), a pass that keeps the values that reach the
    bound (without a branch each), and about 3 m values (on independent delays) go
    through the sorted buffer instead of the whole row: for rows of 784 delays and
    m = 9, 1.75 -> 1.05 ns a value (a branch a value mispredicted, and each maximum
    waited on the one before).
    """
    n = len(row)
    size = n // m
    low = np.inf
    for g in range(m):
        start = g * size
        low = min(low, _max(row[start:n if g == m - 1 else start + size]))
    count = 0
    for i in range(n):
        x = row[i]
        work[count] = x
        count += x >= low
    return _largest(work[:count], m, buf), buf[m - 1]


@njit(cache=True)
def _smallest_by_groups(row: Array, m: int, buf: Array, work: Array) -> float:
    """`_largest_by_groups` for the m-th smallest value (without the largest)."""
    n = len(row)
    size = n // m
    high = -np.inf
    for g in range(m):
        start = g * size
        high = max(high, _max(row[start:n if g == m - 1 else start + size], -1.0))
    count = 0
    for i in range(n):
        x = row[i]
        work[count] = x
        count += x <= high
    return _smallest(work[:count], m, buf)


# Rows at least this long, and at least 8 values a group, take the grouped selection.
GROUPED = 64


@njit(cache=True)
def kth_smallest(row: Array, k: int, buf: Array, work: Array) -> tuple[float, float]:
    """(the k-th smallest value of row, its largest), 1 <= k <= len(row); buf (SMALL,)
    and work (len(row),) are scratch."""
    n = len(row)
    if k == n:
        latest = _max(row)
        return latest, latest
    if n - k + 1 <= len(buf):
        m = n - k + 1
        if n >= GROUPED and n >= 8 * m:
            return _largest_by_groups(row, m, buf, work)
        return _largest(row, m, buf), buf[m - 1]
    if k <= len(buf):
        if n >= GROUPED and n >= 8 * k:
            return _smallest_by_groups(row, k, buf, work), _max(row)
        return _smallest(row, k, buf), _max(row)
    copy = work[:n]
    copy[:] = row
    return _select(copy, k - 1), _max(row)


@njit(cache=True)
def receive_layer(fire_prev: Array, delay: Array, lost: Array, y: Array, value: Array,
                  W: Array, W_trial: Array, k: int, timeout: float, from_start: bool,
                  horizon: float, time: Array, used: Array, s: Array, counts: Array) -> None:
    """One layer of a block of B trials, receivers N, senders M.

    fire_prev (B, M): when each sender fired (inf: never); delay (B, N, M); lost
    (B, N, M) bool, or empty (0, 0, 0) where no message is lost; y (B, M): the senders'
    values; value (B, N, M): what each signal carries where some sender or synapse is
    Byzantine, else empty; W (N, M): the weights, or W_trial (B, N, M) where each trial
    has its own (W_trial empty otherwise); k: the quorum (M: all); timeout: inf for
    none, else from time 0 (from_start) or from the first arrival. Every array
    C-ordered.
    Writes time (B, N): when each receiver's rule holds (inf: never); used (B, N, M):
    the signals it uses then; s (B, N): the sum of weight * value over used signals
    (weight * 0.0 for the others), numpy's bits; counts (B, N, 3): the messages that
    arrived before the horizon, those still travelling at it (sent, not lost, not
    arrived before it: an infinite delay included), and the signals used.
    """
    B, N, M = delay.shape
    any_lost, replaced, own_weights = lost.size > 0, value.size > 0, W_trial.size > 0
    row = np.empty(M)
    prod = np.empty(M)
    work = np.empty(M)
    buf = np.empty(SMALL)
    scratch = stacks()
    for b in range(B):
        fired = fire_prev[b]
        for i in range(N):
            # Row views: one receiver's delays, and the values and weights of its signals.
            d = delay[b, i]
            v = value[b, i] if replaced else y[b]
            w = W_trial[b, i] if own_weights else W[i]
            if any_lost:
                gone = lost[b, i]
                for j in range(M):
                    row[j] = np.inf if gone[j] else fired[j] + d[j]
            else:
                for j in range(M):
                    row[j] = fired[j] + d[j]
            kth, latest = kth_smallest(row, k, buf, work)
            arrived = carried = M  # every message came before the horizon, unless...
            if latest >= horizon:
                arrived = carried = 0
                for j in range(M):
                    arrived += row[j] < horizon
                    # Sent and not lost: an infinite delay (a straggler's overflow) is
                    # still travelling, not gone.
                    if fired[j] < np.inf and not (any_lost and lost[b, i, j]):
                        carried += 1
            t = kth
            if timeout < np.inf:
                start = 0.0 if from_start else row.min()  # from time 0, or the first arrival
                t = min(t, start + timeout)
            u_row = used[b, i]
            n_used = 0
            for j in range(M):
                u = row[j] <= t
                u_row[j] = u
                n_used += u
                prod[j] = w[j] * (v[j] if u else 0.0)
            if t >= kth and n_used > k:
                # More than k arrivals at or before the k-th: it ties with later senders.
                # Those before it are used, then the tied ones by sender index, k in all.
                room = k
                for j in range(M):
                    room -= row[j] < kth
                n_used = 0
                for j in range(M):
                    u = row[j] < kth
                    if row[j] == kth:
                        u = room > 0
                        room -= 1
                    u_row[j] = u
                    n_used += u
                    prod[j] = w[j] * (v[j] if u else 0.0)
            time[b, i] = t
            s[b, i] = numpy_sum(prod, M, scratch)
            counts[b, i, 0] = arrived
            counts[b, i, 1] = carried - arrived
            counts[b, i, 2] = n_used


@njit(cache=True)
def weighted_sums(W: Array, Y: Array, out: Array) -> None:
    """out[n, i] = the sum over j of W[i, j] * Y[n, j] in numpy's order: the bits of
    `(W * Y[n]).sum(axis=-1)`. W (N, M), Y (n, M), out (n, N)."""
    N, M = W.shape
    prod = np.empty(M)
    scratch = stacks()
    for r in range(Y.shape[0]):
        for i in range(N):
            for j in range(M):
                prod[j] = W[i, j] * Y[r, j]
            out[r, i] = numpy_sum(prod, M, scratch)


@njit(cache=True)
def pareto_from_exponential(x: Array, alpha: float, scale: float) -> None:
    """x (a standard exponential draw each) -> scale * (1 + expm1(x / alpha)), in place: the
    classic Pareto's draws as `Generator.pareto` makes them from the same exponentials
    (libm's expm1, as numpy's C code calls it), then `latency.Pareto`'s two steps."""
    flat = x.reshape(-1)
    for i in range(flat.size):
        flat[i] = (1.0 + math.expm1(flat[i] / alpha)) * scale
