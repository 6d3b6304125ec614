"""Bounds against the worst error found on the digits net (64-32-16-10 sigmoid), per crash case.

    python benchmarks/gap_digits.py [--starts 64] [--steps 60]

The search (a lower bound on the true worst case): for each output and sign,
projected gradient ascent over the input box [0, 1]^64 from random starts and
the held-out digits; at every step the failed sets are re-chosen, per
receiver (each neuron of layer 2 misses its own set of layer-1 signals, the
output its own set of layer-2 signals), by coordinate ascent over every set of
the declared size. This is what the worst-case bounds certify against.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np

from neurosim.bounds.intervals import interval_bounds
from neurosim.bounds.paper import paper_fep
from neurosim.bounds.signed import signed_bound
from neurosim.bounds.weight_aware import weight_aware_bound
from neurosim.data.counts import failure_counts
from neurosim.data.network import load_network

NET = Path(__file__).resolve().parents[1] / "scenarios" / "nets" / "digits.npz"


def sig(s):
    return 1.0 / (1.0 + np.exp(-s))


def sets(n, k):
    """Every set of at most k of n senders as a 0/1 matrix (n_sets, n)."""
    rows = [np.zeros(n)]
    for size in range(1, k + 1):
        for c in itertools.combinations(range(n), size):
            r = np.zeros(n)
            r[list(c)] = 1.0
            rows.append(r)
    return np.array(rows)


def search(net, m1, m2, o, sign, X0, steps, lr):
    """Largest sign*(faulty - fault-free) of output o found from the starts X0 (n, 64)."""
    W1, W2, W3 = net.weights
    b1, b2, b3 = net.biases
    S2 = sets(W2.shape[1], m1)   # candidate missing sets of layer-1 signals, per layer-2 receiver
    S3 = sets(W3.shape[1], m2)   # candidate missing sets of layer-2 signals, for output o
    X = X0.copy()
    best = -np.inf
    for step in range(steps + 1):
        y1 = sig(X @ W1.T + b1)                       # (n, 32)
        s2 = y1 @ W2.T + b2                           # (n, 16)
        y2 = sig(s2)
        # removed[n, set, j] = sum_{k in set} W2_jk y1_k
        removed = np.einsum("sk,jk,nk->nsj", S2, W2, y1)
        y2f_all = sig(s2[:, None, :] - removed)        # (n, sets, 16)
        w = sign * W3[o]                              # (16,)
        # Output o misses the set M3; layer-2 receivers choose their sets given M3.
        vals = []
        choices = []
        for m3 in S3:
            keep = 1.0 - m3
            gain = w * keep * y2f_all                 # (n, sets, 16)
            pick = gain.argmax(axis=1)                # (n, 16)
            obj = np.take_along_axis(gain, pick[:, None, :], 1)[:, 0].sum(1) - (w * y2).sum(1)
            vals.append(obj)
            choices.append(pick)
        vals = np.array(vals)                         # (|S3|, n)
        i3 = vals.argmax(0)
        obj = vals[i3, np.arange(len(X))]
        best = max(best, float(obj.max()))
        if step == steps:
            break
        pick = np.array(choices)[i3, np.arange(len(X))]  # (n, 16)
        keep = 1.0 - S3[i3]                           # (n, 16)
        mask = S2[pick]                               # (n, 16, 32): 1 where missing
        y2f = np.take_along_axis(y2f_all, pick[:, None, :], 1)[:, 0]
        g2f = w * keep * y2f * (1 - y2f)              # d obj / d s2'_j
        g2 = -w * y2 * (1 - y2)
        gy1 = np.einsum("nj,njk->nk", g2f, W2 * (1 - mask)) + g2 @ W2
        gx = (gy1 * y1 * (1 - y1)) @ W1
        step_size = lr * (1.0 - step / steps) + 0.01  # large moves first, then refine
        X = np.clip(X + step_size * np.sign(gx), net.input_low, net.input_high)
    return best


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--starts", type=int, default=64)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--cases", default="1,0;1,1;2,1;0,1", help="crash cases, ';'-separated")
    args = p.parse_args()
    from neurosim.data.build import digits_split

    net = load_network(NET)
    iv = interval_bounds(net)
    rng = np.random.default_rng(0)
    _, X_test, _, _ = digits_split()
    X0 = np.vstack([rng.uniform(0, 1, (args.starts, 64)),
                    rng.integers(0, 2, (args.starts, 64)).astype(float),
                    X_test[: args.starts]])
    print(f"{'crash':8} {'paper':>8} {'weight-aware':>13} {'signed':>8} {'worst found':>12}"
          f" {'WA/worst':>9} {'signed/worst':>13}")
    for crash in [[int(v) for v in c.split(",")] for c in args.cases.split(";")]:
        f = failure_counts(net, crash=crash)
        t0 = time.perf_counter()
        worst = max(search(net, crash[0], crash[1], o, sg, X0, args.steps, 0.2)
                    for o in range(net.sizes[-1]) for sg in (1.0, -1.0))
        t = time.perf_counter() - t0
        wa = weight_aware_bound(net, f, intervals=iv)
        sb = signed_bound(net, f, intervals=iv)
        print(f"{str(crash):8} {paper_fep(net, f).fep:8.3f} {wa:13.3f} {sb:8.3f} {worst:12.3f}"
              f" {wa / worst:9.2f} {sb / worst:13.2f}   (search {t:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
