"""The given-set bound's per-receiver sums, compiled: one pass over each receiver's row.

For receiver j of layer l and each sender i, the signal's term of the deviation bound
and of the faulty run's sum of magnitudes (A = |W|, B_i the bound on |y_i|, e_i the
sender's deviation bound, eta the weight precision, C the capacity):

    correct    A_ji e_i + eta (B_i + e_i)     (A_ji + eta) (B_i + e_i)
    missing    A_ji B_i                        (A_ji + eta) 0
    corrupted  A_ji (C + B_i) + eta C          (A_ji + eta) C

each summed along the row in numpy's order (`neurosim.data.pairwise`): the values
`weight_aware._signal_sums` computed with whole-array numpy operations, bit for bit,
without the (trials, N_l, N_{l-1}) arrays of terms.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from neurosim.data.pairwise import numpy_sum, stacks

# numba caches a kernel by the text of the file that defines it alone, and these kernels
# inline neurosim/data/pairwise.py: this digest of that file (tests/test_kernels.py
# checks it) changes this file's text, and so its cache, whenever that file changes.
PAIRWISE_DIGEST = "2d5c038cbc35f39f"

Array = np.ndarray


@njit(cache=True)
def signal_sums(A: Array, B: Array, eta: float, e: Array, kind: Array, capacity: float,
                missing: int, corrupted: int, per_signal: Array, faulty: Array) -> None:
    """A (N, M), B (M,), e (T, M), kind (T, N, M) -> per_signal, faulty (T, N) (written)."""
    T, N, M = kind.shape
    ps, fs = np.empty(M), np.empty(M)
    scratch = stacks()
    for t in range(T):
        dev = e[t]
        for j in range(N):
            a_row, k_row = A[j], kind[t, j]
            for i in range(M):
                a, k = a_row[i], k_row[i]
                if k == missing:
                    ps[i] = a * B[i]
                    fs[i] = (a + eta) * 0.0
                elif k == corrupted:
                    ps[i] = a * (capacity + B[i]) + eta * capacity
                    fs[i] = (a + eta) * capacity
                else:
                    ps[i] = a * dev[i] + eta * (B[i] + dev[i])
                    fs[i] = (a + eta) * (B[i] + dev[i])
            per_signal[t, j] = numpy_sum(ps, M, scratch)
            faulty[t, j] = numpy_sum(fs, M, scratch)
