"""Row sums in numpy's own order, compiled: what the compiled kernels of the engines and the
bounds use to give numpy's bits.

numpy sums a contiguous row pairwise: blocks of up to 128 terms in eight running sums
(then the rest one by one), halves above that (the first half a multiple of 8 long),
and the row's sum is 0.0 plus that. A value a compiled kernel sums this way is the
value numpy computes, bit for bit; tests/test_kernels.py checks it against numpy on rows
of many lengths. Compiled with numba on first use (cached on disk afterwards).

numba's cache of a kernel follows the text of the file that defines it, not of the files
it calls into: the modules whose kernels inline these sums (`neurosim/engines/kernels.py`,
`neurosim/bounds/signal_sums.py`, `neurosim/bounds/substitution_sums.py`) each hold a
digest of this file, PAIRWISE_DIGEST. After editing this module, update them
(tests/test_kernels.py fails until they match), or their cached kernels keep the old
sums.
"""

from __future__ import annotations

import numpy as np
from numba import njit

Array = np.ndarray


# The sums are inlined into the kernels that call them: as calls they cost about 80 ns
# each (a 16-term row took 85 ns, 4 inlined), and a kernel sums a row per receiver.
@njit(inline="always")
def _block_sum(p: Array, lo: int, n: int) -> float:
    """numpy's sum of at most 128 terms p[lo:lo+n]: eight running sums, then the rest."""
    q = p[lo:lo + n]  # indices from range() are known to be >= 0: the loop vectorises
    if n < 8:
        res = 0.0
        for i in range(n):
            res += q[i]
        return res
    r0, r1, r2, r3 = q[0], q[1], q[2], q[3]
    r4, r5, r6, r7 = q[4], q[5], q[6], q[7]
    blocks = n // 8
    for k in range(1, blocks):
        j = 8 * k
        r0 += q[j]
        r1 += q[j + 1]
        r2 += q[j + 2]
        r3 += q[j + 3]
        r4 += q[j + 4]
        r5 += q[j + 5]
        r6 += q[j + 6]
        r7 += q[j + 7]
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for i in range(8 * blocks, n):
        res += q[i]
    return res


@njit(inline="always")
def _pairwise(p: Array, n: int, tasks: Array, sums: Array) -> float:
    """p[:n] summed pairwise for n > 128 (`numpy_sum` takes shorter rows in one block), the
    recursion unrolled onto two stacks (numba cannot cache a recursive function called
    from another): tasks (3, DEPTH) int64, sums (DEPTH,).

    numpy halves a segment of more than 128 terms (the first half a multiple of 8 long),
    sums each half, then adds the halves; a task is (0, lo, n), sum this segment, or
    (1, 0, 0), add the last two sums.
    """
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


@njit(inline="always")
def short_sum(p: Array, n: int) -> float:
    """`numpy_sum` of a row of at most 128 terms (one block, no stacks): a kernel that
    makes several sums a row inlines far less code with it (six `numpy_sum`s made one
    kernel 4.7 times slower)."""
    return 0.0 + _block_sum(p, 0, n)


@njit(inline="always")
def numpy_sum(p: Array, n: int, scratch: tuple[Array, Array]) -> float:
    """What numpy's `p[:n].sum()` gives for a contiguous row, bit for bit: 0.0 plus the
    pairwise sum. scratch: `stacks()`."""
    if n <= 128:
        return short_sum(p, n)
    return 0.0 + _pairwise(p, n, scratch[0], scratch[1])


@njit(cache=True)
def row_sum(p: Array) -> float:
    """`numpy_sum` of a whole row (p (n,))."""
    return numpy_sum(p, len(p), stacks())
