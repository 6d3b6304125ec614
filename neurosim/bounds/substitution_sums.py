"""One step of the signed bound's back-substitution on short rows, compiled.

A step of `neurosim.bounds.signed._substitute` takes the coefficients g of a
row on the layer's deviations, splits them into gp = max(g, 0), gn = min(g, 0)
and |g|, and adds to the row's bound and to its companion sum of magnitudes

    const += gp . up_off + gn . lo_off          size += |g| . offsets
    const += gp . (up_slope r_hi) + gn . (lo_slope r_lo)
                                                size += |g| . terms

then forms the coefficients on the layer below, lam = gp up_slope + gn lo_slope
and |g| slope. On rows of at most SHORT terms each product a . b is summed in
numpy's order, `(a * b).sum(-1)`, and this kernel gives those bits for a block
of trials in one pass over each row (`neurosim.data.pairwise`), where numpy
would build a dozen arrays of (trials, rows, terms). On longer rows the bound
uses BLAS's products, which no kernel reproduces.

Compiled with numba on first use (cached on disk afterwards).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from neurosim.data.pairwise import short_sum

# numba caches a kernel by the text of the file that defines it alone, and these kernels
# inline neurosim/data/pairwise.py: this digest of that file (tests/test_kernels.py
# checks it) changes this file's text, and so its cache, whenever that file changes.
PAIRWISE_DIGEST = "2d5c038cbc35f39f"

Array = np.ndarray

# The longest rows summed here: one block of numpy's pairwise sum (at most 128), and, as
# measured on the digits network (16 terms), many times faster than a BLAS product per
# trial; on the 784-256-128-10 network's rows of 128 and 256, BLAS is faster.
SHORT = 64


@njit(cache=True)
def substitution_step(g: Array, stacked: bool, mag: Array, up_off: Array, lo_off: Array,
                      offsets: Array, hi_term: Array, lo_term: Array, terms: Array,
                      const: Array, size: Array, live: Array, up_slope: Array,
                      lo_slope: Array, slope: Array, lam: Array, mag_next: Array,
                      lam_live: Array) -> None:
    """One step for B trials, rows R (2 R0 where stacked), terms n <= SHORT.

    g (1 or B, R0, n): the coefficients, shared by the trials or each trial's; stacked:
    the rows are g's rows, then their negatives (the upper bounds of +x and -x).
    mag (1 or B, R, n): the companion magnitudes, or empty (0, 0, 0) where they are |g|.
    up_off, lo_off, offsets, hi_term, lo_term, terms (B, n): as in the module docstring.
    const, size (B, R): added to, in place. live (B, R): written, some g of the row not 0.
    up_slope, lo_slope, slope (B, n) and lam, mag_next (B, R, n), lam_live (B, R): the
    coefficients on the layer below, written where lam has rows (else all empty).
    """
    B, n = up_off.shape
    R0 = g.shape[1]
    R = 2 * R0 if stacked else R0
    own_g, own_mag, abs_mag = g.shape[0] > 1, mag.shape[0] > 1, mag.size == 0
    below = lam.size > 0
    p0, p1, p2 = np.empty(n), np.empty(n), np.empty(n)
    p3, p4, p5 = np.empty(n), np.empty(n), np.empty(n)
    for b in range(B):
        for r in range(R):
            row = g[b if own_g else 0, r % R0]
            flip = stacked and r >= R0
            nonzero = False
            lam_nonzero = False
            for i in range(n):
                x = -row[i] if flip else row[i]
                # numpy's maximum and minimum: NaN kept, and 0.0 for either zero.
                gp = x if not x <= 0.0 else 0.0
                gn = x if not x >= 0.0 else 0.0
                m = abs(x) if abs_mag else mag[b if own_mag else 0, r, i]
                p0[i] = gp * up_off[b, i]
                p1[i] = gn * lo_off[b, i]
                p2[i] = m * offsets[b, i]
                p3[i] = gp * hi_term[b, i]
                p4[i] = gn * lo_term[b, i]
                p5[i] = m * terms[b, i]
                nonzero |= x != 0.0
                if below:
                    coefficient = gp * up_slope[b, i] + gn * lo_slope[b, i]
                    lam[b, r, i] = coefficient
                    lam_nonzero |= coefficient != 0.0
                    mag_next[b, r, i] = m * slope[b, i]
            c = const[b, r] + (short_sum(p0, n) + short_sum(p1, n))
            s = size[b, r] + short_sum(p2, n)
            const[b, r] = c + (short_sum(p3, n) + short_sum(p4, n))
            size[b, r] = s + short_sum(p5, n)
            live[b, r] = nonzero
            if below:
                lam_live[b, r] = lam_nonzero
