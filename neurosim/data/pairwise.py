"""Row sums in numpy's own order, compiled: what the compiled kernels of the engines and the
bounds use to give numpy's bits.

numpy sums a contiguous row pairwise: blocks of up to 128 terms in eight running sums
(then the rest one by one), halves above that (the first half a multiple of 8 long),
and the row's sum is 0.0 plus that. A value a compiled kernel sums this way is the
value numpy computes, bit for bit; tests/test_kernels.py checks it against numpy on rows
of many lengths. Compiled with numba on first use (cached on disk afterwards).
"""

from __future__ import annotations

import numpy as np
from numba import njit

Array = np.ndarray


@njit(cache=True)
def _block_sum(p: Array, lo: int, n: int) -> float:
    """numpy's sum of at most 128 terms p[lo:lo+n]: eight running sums, then the rest."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += p[i]
        return res
    r0, r1, r2, r3 = p[lo], p[lo + 1], p[lo + 2], p[lo + 3]
    r4, r5, r6, r7 = p[lo + 4], p[lo + 5], p[lo + 6], p[lo + 7]
    i = 8
    stop = n - n % 8
    while i < stop:
        j = lo + i
        r0 += p[j]
        r1 += p[j + 1]
        r2 += p[j + 2]
        r3 += p[j + 3]
        r4 += p[j + 4]
        r5 += p[j + 5]
        r6 += p[j + 6]
        r7 += p[j + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += p[lo + i]
        i += 1
    return res


@njit(cache=True)
def _pairwise(p: Array, n: int, tasks: Array, sums: Array) -> float:
    """p[:n] summed pairwise, the recursion unrolled onto two stacks (numba cannot cache a
    recursive function called from another): tasks (3, DEPTH) int64, sums (DEPTH,).

    numpy halves a segment of more than 128 terms (the first half a multiple of 8 long),
    sums each half, then adds the halves; a task is (0, lo, n), sum this segment, or
    (1, 0, 0), add the last two sums.
    """
    if n <= 128:
        return _block_sum(p, 0, n)
    top, done = 0, 0
    tasks[0, 0], tasks[1, 0], tasks[2, 0] = 0, 0, n
    top = 1
    while top > 0:
        top -= 1
        kind, lo, m = tasks[0, top], tasks[1, top], tasks[2, top]
        if kind == 1:
            done -= 1
            sums[done - 1] = sums[done - 1] + sums[done]
        elif m <= 128:
            sums[done] = _block_sum(p, lo, m)
            done += 1
        else:
            half = m // 2
            half -= half % 8
            # Last in, first out: the first half is summed first, the add comes last.
            tasks[0, top], tasks[1, top], tasks[2, top] = 1, 0, 0
            tasks[0, top + 1], tasks[1, top + 1], tasks[2, top + 1] = 0, lo + half, m - half
            tasks[0, top + 2], tasks[1, top + 2], tasks[2, top + 2] = 0, lo, half
            top += 3
    return sums[0]


DEPTH = 192  # stack room: 3 tasks a level, far beyond the 2^50 terms of any row


@njit(cache=True)
def stacks() -> tuple[Array, Array]:
    """Scratch for `numpy_sum`: allocate once per kernel call, not per row."""
    return np.empty((3, DEPTH), dtype=np.int64), np.empty(DEPTH)


@njit(cache=True)
def numpy_sum(p: Array, n: int, scratch: tuple[Array, Array]) -> float:
    """What numpy's `p[:n].sum()` gives for a contiguous row, bit for bit: 0.0 plus the
    pairwise sum. scratch: `stacks()`."""
    return 0.0 + _pairwise(p, n, scratch[0], scratch[1])


@njit(cache=True)
def row_sum(p: Array) -> float:
    """`numpy_sum` of a whole row (p (n,))."""
    return numpy_sum(p, len(p), stacks())
