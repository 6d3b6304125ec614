"""The next float64 up or down, compiled: `np.nextafter(x, +-inf)`, bit for bit, for the
large arrays of a block of trials (numpy calls libm once an element there).

Up: NaN and +inf stay; +-0 goes to the smallest subnormal; a positive float's bits
count up by one, a negative one's down (toward -0). Down is the mirror image.
"""

from __future__ import annotations

import numpy as np
from numba import njit

Array = np.ndarray


@njit(cache=True)
def step(x: Array, out: Array, up: bool) -> None:
    """out = nextafter(x, +inf if up else -inf); x, out 1-D float64, C-ordered."""
    bits, out_bits = x.view(np.int64), out.view(np.int64)
    tiny = 5e-324 if up else -5e-324
    for i in range(x.size):
        v = x[i]
        if v != v or v == (np.inf if up else -np.inf):
            out[i] = v
        elif v == 0.0:
            out[i] = tiny
        elif (v > 0.0) == up:
            out_bits[i] = bits[i] + 1  # away from 0
        else:
            out_bits[i] = bits[i] - 1  # toward 0
