"""Bounds against the worst error found on the digits net (64-32-16-10 sigmoid), per crash case.

    python benchmarks/gap_digits.py [--starts 64] [--steps 60] [--explain]

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
from neurosim.bounds.linear_intervals import network_intervals
from neurosim.bounds.paper import paper_fep
from neurosim.bounds.signed import _relax, _relax_flat, signed_bound, signed_layers_worst
from neurosim.bounds.weight_aware import weight_aware_bound
from neurosim.data.counts import failure_counts
from neurosim.data.network import load_network, preactivation

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
    """Largest sign*(faulty - fault-free) of output o found from the starts X0 (n, 64), and
    where: (input, output's missing set (16,), each layer-2 receiver's set index (16,))."""
    W1, W2, W3 = net.weights
    b1, b2, b3 = net.biases
    S2 = sets(W2.shape[1], m1)   # candidate missing sets of layer-1 signals, per layer-2 receiver
    S3 = sets(W3.shape[1], m2)   # candidate missing sets of layer-2 signals, for output o
    X = X0.copy()
    best, where = -np.inf, None
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
        pick = np.array(choices)[i3, np.arange(len(X))]  # (n, 16)
        if obj.max() > best:
            n = int(obj.argmax())
            best, where = float(obj[n]), (X[n].copy(), S3[i3[n]].copy(), pick[n].copy())
        if step == steps:
            break
        keep = 1.0 - S3[i3]                           # (n, 16)
        mask = S2[pick]                               # (n, 16, 32): 1 where missing
        y2f = np.take_along_axis(y2f_all, pick[:, None, :], 1)[:, 0]
        g2f = w * keep * y2f * (1 - y2f)              # d obj / d s2'_j
        g2 = -w * y2 * (1 - y2)
        gy1 = np.einsum("nj,njk->nk", g2f, W2 * (1 - mask)) + g2 @ W2
        gx = (gy1 * y1 * (1 - y1)) @ W1
        step_size = lr * (1.0 - step / steps) + 0.01  # large moves first, then refine
        X = np.clip(X + step_size * np.sign(gx), net.input_low, net.input_high)
    return best, where, X, obj


def objective(net, m1, m2, o, sign, X):
    """sign*(faulty - fault-free) of output o at inputs X (n, 64), the failed sets chosen
    for it (the output's first, then each layer-2 receiver's for that): values (n,), and
    per input (output's missing set (16,), each receiver's set index (16,))."""
    W1, W2, W3 = net.weights
    b1, b2, _ = net.biases
    S2, S3 = sets(W2.shape[1], m1), sets(W3.shape[1], m2)
    y1 = sig(X @ W1.T + b1)
    s2 = y1 @ W2.T + b2
    y2f = sig(s2[:, None, :] - np.einsum("sk,jk,nk->nsj", S2, W2, y1))  # (n, sets, 16)
    w = sign * W3[o]
    vals, picks = [], []
    for m3 in S3:
        gain = w * (1.0 - m3) * y2f
        picks.append(gain.argmax(axis=1))
        vals.append(gain.max(axis=1).sum(1) - (w * sig(s2)).sum(1))
    vals = np.array(vals)
    i3 = vals.argmax(0)
    n = np.arange(len(X))
    return vals[i3, n], [(S3[i3[k]], np.array(picks)[i3[k], k]) for k in n]


GRID = np.linspace(0.0, 1.0, 11)


def polish(net, m1, m2, o, sign, x, grid=GRID, sweeps=8):
    """Coordinate ascent from x: each input in turn set to the best of `grid` (every other
    input fixed, the sets re-chosen), until a sweep changes nothing. Returns (value, x)."""
    v = objective(net, m1, m2, o, sign, x[None])[0][0]
    for sweep in range(sweeps):
        moved = False
        for i in np.random.default_rng(sweep).permutation(len(x)):
            C = np.repeat(x[None], len(grid), axis=0)
            C[:, i] = grid
            vals = objective(net, m1, m2, o, sign, C)[0]
            k = int(vals.argmax())
            if vals[k] > v:
                v, x, moved = float(vals[k]), C[k], True
        if not moved:
            break
    return v, x


def engine_error(net, m1, where, o):
    """|faulty - fault-free| of output o at the input of `where`, by the network's forward
    pass with each receiver's signals masked (neurosim's summation, not this file's)."""
    x, T, pick = where
    W1, W2, W3 = net.weights
    b1, b2, b3 = net.biases
    y1 = net.phis[0](preactivation(W1, x, b1))
    S2 = sets(W2.shape[1], m1)
    y2f = net.phis[1](preactivation(W2, y1[None, :] * (1.0 - S2[pick]), b2))
    out_f = preactivation(W3[o], y2f * (1.0 - T), b3[o])
    return float(abs(out_f - net.forward(x[None])[0, o]))


def receiver_max(net, o, sign, X0, steps, lr):
    """Per layer-2 receiver j alone: the largest sign * W3_oj * (its deviation when it
    misses one layer-1 signal, the worst one), over the box (16,); each at its own input."""
    W1, W2, W3 = net.weights
    b1, b2, _ = net.biases
    out = np.zeros(W2.shape[0])
    for j in range(W2.shape[0]):
        w = sign * W3[o, j]
        X = X0.copy()
        for step in range(steps + 1):
            y1 = sig(X @ W1.T + b1)                   # (n, 32)
            s = y1 @ W2[j] + b2[j]                    # (n,)
            a = s[:, None] - W2[j] * y1               # (n, 32): missing sender i
            f = w * (sig(a) - sig(s)[:, None])
            i = f.argmax(1)
            out[j] = max(out[j], float(f.max()))
            if step == steps:
                break
            ga, gs = sig(a[np.arange(len(X)), i]), sig(s)
            keep = np.ones_like(y1)
            keep[np.arange(len(X)), i] = 0.0
            gy = w * ((ga * (1 - ga))[:, None] * W2[j] * keep - (gs * (1 - gs))[:, None] * W2[j])
            gx = (gy * y1 * (1 - y1)) @ W1
            X = np.clip(X + (lr * (1.0 - step / steps) + 0.01) * np.sign(gx), 0.0, 1.0)
    return out


def explain(net, iv, f, o, sign, where, X0, steps):
    """The terms of the signed bound at output o (sign) with crashes [1, 1], beside the same
    terms at the worst input found and each term's own maximum over the box."""
    W1, W2, W3 = net.weights
    b1, b2, _ = net.biases
    best = None
    for flat in (False, True):
        layers = signed_layers_worst(net, f, iv, flat)
        a, b = layers.dev_low[1], layers.dev_high[1]  # layer 2's pre-activation deviations
        rx = (_relax_flat if flat else _relax)(net.phis[1], iv.pre_low[2], iv.pre_high[2], a, b)
        w = sign * W3[o]
        up = np.maximum(rx.up_slope * a + rx.up_off, rx.up_slope * b + rx.up_off)
        lo = np.minimum(rx.lo_slope * a + rx.lo_off, rx.lo_slope * b + rx.lo_off)
        per = np.where(w >= 0, w * up, w * lo)        # bound of sign W3_oj d_j, per receiver
        miss = np.maximum(-w * iv.low[2], -w * iv.high[2])  # output missing sender t
        t = int(np.argmax(miss - per))
        total = per.sum() - per[t] + miss[t]
        if best is None or total < best[0]:
            best = (total, per, miss, t, "constant lines" if flat else "chords")
    total, per, miss, t, kind = best
    x, T, pick = where
    y1 = sig(W1 @ x + b1)
    s2 = W2 @ y1 + b2
    S2 = sets(W2.shape[1], 1)
    d = sig(s2 - (S2[pick] * W2 * y1).sum(1)) - sig(s2)
    at = sign * W3[o] * d * (1 - T)
    t_at = int(np.argmax(T)) if T.any() else None
    out_at = -sign * W3[o, t_at] * sig(s2[t_at]) if t_at is not None else 0.0
    alone = receiver_max(net, o, sign, X0, steps, 0.2)
    print(f"  terms of the bound at output {o} ({'+' if sign > 0 else '-'}), {kind}, output "
          f"missing sender {t}: receivers {per.sum() - per[t]:.3f} + output term {miss[t]:.3f}"
          f" = {total:.3f}")
    print(f"  at the worst input found (output missing {t_at}): receivers {at.sum():.3f} + "
          f"output term {out_at:.3f} = {at.sum() + out_at:.3f}")
    keep = np.arange(len(per)) != t
    print(f"  each receiver alone at its own worst input: {alone[keep].sum():.3f} (bound's "
          f"per-receiver terms {per[keep].sum():.3f}); output term alone {miss[t]:.3f}")
    print("  per receiver j: bound term / own maximum / at the worst input found")
    for j in np.argsort(-per)[:16]:
        print(f"    j={j:2d}  {per[j]:7.3f}  {alone[j]:7.3f}  {at[j]:7.3f}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--starts", type=int, default=64)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--cases", default="1,0;1,1;2,1;0,1", help="crash cases, ';'-separated")
    p.add_argument("--polish", type=int, default=8,
                   help="final points polished by coordinate ascent, per output and sign")
    p.add_argument("--explain", action="store_true",
                   help="for crashes [1, 1]: the bound's terms against the worst input found")
    args = p.parse_args()
    from neurosim.data.build import digits_split

    net = load_network(NET)
    plain, iv = interval_bounds(net), network_intervals(net)
    width = [(float(np.mean(plain.pre_high[l] - plain.pre_low[l])),
              float(np.mean(iv.pre_high[l] - iv.pre_low[l]))) for l in range(1, net.depth + 2)]
    print("mean pre-activation interval width per layer, plain -> linear: "
          + ", ".join(f"{a:.3f} -> {b:.3f}" for a, b in width))
    rng = np.random.default_rng(0)
    _, X_test, _, _ = digits_split()
    X0 = np.vstack([rng.uniform(0, 1, (args.starts, 64)),
                    rng.integers(0, 2, (args.starts, 64)).astype(float),
                    X_test[: args.starts]])
    print(f"{'crash':8} {'paper':>8} {'weight-aware':>13} {'signed':>8} {'(plain iv)':>10}"
          f" {'worst found':>12} {'WA/worst':>9} {'signed/worst':>13}")
    for crash in [[int(v) for v in c.split(",")] for c in args.cases.split(";")]:
        f = failure_counts(net, crash=crash)
        t0 = time.perf_counter()
        found = [(search(net, crash[0], crash[1], o, sg, X0, args.steps, 0.2), o, sg)
                 for o in range(net.sizes[-1]) for sg in (1.0, -1.0)]
        grad = max(r[0][0] for r in found)
        # Polish the best final points of the 3 most promising outputs and signs.
        results = []
        for (best, where, X, vals), o, sg in sorted(found, key=lambda r: -r[0][0])[:3]:
            results.append((best, where, o, sg))
            for n in np.argsort(-vals)[: args.polish]:
                v, x = polish(net, crash[0], crash[1], o, sg, X[n])
                T, pick = objective(net, crash[0], crash[1], o, sg, x[None])[1][0]
                results.append((v, (x, T, pick), o, sg))
        worst, where, o, sg = max(results, key=lambda r: r[0])
        check = engine_error(net, crash[0], where, o)
        assert abs(check - worst) < 1e-9, (check, worst)  # the same error, another code path
        t = time.perf_counter() - t0
        wa = weight_aware_bound(net, f, intervals=iv)
        sb = signed_bound(net, f, intervals=iv)
        sb_plain = signed_bound(net, f, intervals=plain)
        print(f"{str(crash):8} {paper_fep(net, f).fep:8.3f} {wa:13.3f} {sb:8.3f} {sb_plain:10.3f}"
              f" {worst:12.3f} {wa / worst:9.2f} {sb / worst:13.4f}   (search {t:.0f} s;"
              f" gradient alone {grad:.3f})")
        if args.explain and crash == [1, 1]:
            explain(net, iv, f, o, sg, where, X0, args.steps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
