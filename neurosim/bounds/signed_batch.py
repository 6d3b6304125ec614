"""The signed given-set bound of a block of trials at once (a trial axis on every array).

`given_set_signed_bound` (neurosim.bounds.signed) evaluates one trial with a
few thousand small numpy calls; a run needs it for every trial. This module
computes the same quantity for B trials with a leading trial axis on every
per-trial array, so a block costs about as many numpy calls as one trial.

Same mathematics, same float64 operations in the same order: every value is
bit-identical to the per-trial function's (tests/test_signed_batch.py checks
it on random networks). What keeps it so:

- elementwise operations give the same bits whatever the array's shape, and
  sums run along the last (contiguous) axis, a row at a time, as there;
- the products of a matrix with a vector, and of a matrix with a weight
  matrix, go through numpy's matmul with a trial axis in front, which calls
  the same BLAS routine with the same shapes for each trial's slice; except
  the back-substitution's sums on rows of at most SHORT terms, which both
  versions take in numpy's order, here from one compiled pass a step
  (`neurosim.bounds.substitution_sums`);
- the first layer with a non-zero failure term (where the back-substitution
  stops) depends on the trial, so trials are grouped by it, and each group
  runs with that layer, as the per-trial function does;
- Python's min (the smaller of the chord and flat relaxations, then of the
  weight-aware given-set bound) keeps its first argument on ties and NaN:
  `np.where(b < a, b, a)`;
- work is skipped only where what it would add is provably +-0 and leaves
  the bits as they are (a flat line's zero slopes, a zero precision term),
  checked at run time; and done once where the trials or the two kinds of
  lines share it (|W|, the fault-free rounding, the values below any failure).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np

from neurosim.bounds.failed_terms import FailedSignals, failure_box
from neurosim.bounds.intervals import Intervals
from neurosim.bounds.linear_intervals import network_intervals
from neurosim.bounds.rounding import finite_or_inf, gamma, summation_error, up, widen
from neurosim.bounds.signed import (
    _faulty_values,
    _relax,
    _relax_flat,
    _Relaxation,
    coefficient_underflow,
    faulty_rounding,
    precision_term,
    underflow_term,
)
from neurosim.bounds.substitution_sums import SHORT, substitution_step
from neurosim.bounds.weight_aware import given_set_bounds
from neurosim.data.network import Network
from neurosim.data.signals import CORRECT, CORRUPTED, MISSING

Array = np.ndarray
# The sparse way to write the failure terms when at most 1/SPARSE of the signals failed.
SPARSE = 4


# Empty stand-ins for the compiled step's arrays it does not use.
_NONE = np.empty((0, 0, 0))
_NONE_BOOL = np.empty((0, 0), dtype=bool)


def _mv(m: Array, v: Array) -> Array:
    """m @ v per trial: m (rows, n) shared or (B, rows, n), v (B, n) -> (B, rows)."""
    return np.matmul(m, v[..., None])[..., 0]


def _box(W: Array, y_lo: Array, y_hi: Array, eta: float, C: float, kind: Array,
         failed: FailedSignals | None = None) -> tuple[Array, Array]:
    """The failure term r of receiving layer l for each trial (`GivenSet.box`).

    W (N_l, N_{l-1}); y_lo, y_hi (N_{l-1},) shared or (B, N_{l-1}); kind (B, N_l, N_{l-1}).
    Returns (lo, hi), (B, N_l): each signal's term as in `_signal_terms` / `GivenSet._terms`
    (the same elementwise operations), summed along the senders. failed:
    `FailedSignals.of(kind)`, if already found.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        quiet = ~np.any(eta * np.maximum(np.abs(y_lo), np.abs(y_hi)), axis=-1)
    if np.all(quiet):  # a correct signal adds exactly 0: the failed ones alone
        return failure_box(W, y_lo, y_hi, eta, C,
                           FailedSignals.of(kind) if failed is None else failed)
    if quiet.any():  # trials that receive different values, some with precision terms
        lo, hi = np.empty(kind.shape[:-1]), np.empty(kind.shape[:-1])
        for rows in (quiet, ~quiet):
            lo[rows], hi[rows] = _box(W, y_lo[rows], y_hi[rows], eta, C, kind[rows])
        return lo, hi
    y_lo, y_hi = y_lo[..., None, :], y_hi[..., None, :]
    mag = eta * np.maximum(np.abs(y_lo), np.abs(y_hi))
    # missing or corrupted
    at = np.flatnonzero(kind != CORRECT) if failed is None else \
        failed.row * kind.shape[-1] + failed.sender
    if len(at) <= kind.size // SPARSE:
        # Few failed signals (a quorum's, a crash's): each term is written where it is,
        # the precision term everywhere else (x - 0.0 is x, bit for bit; x + 0.0 turns
        # -0.0 into 0.0, as the reference's sum with a zero array does).
        lo = np.empty(kind.shape)
        hi = np.empty(kind.shape)
        lo[...] = -mag
        hi[...] = mag + 0.0
        n_l, n = W.shape
        w = W.reshape(-1)[at % (n_l * n)]
        sender = at % n
        if y_lo.ndim == 3:  # (B, 1, N_{l-1}): each trial its own values
            sender += (at // (n_l * n)) * n
        p, q = -w * y_lo.reshape(-1)[sender], -w * y_hi.reshape(-1)[sender]
        extra = np.where(kind.reshape(-1)[at] == CORRUPTED, (np.abs(w) + eta) * C, 0.0)
        lo.reshape(-1)[at] = np.minimum(p, q) - extra
        hi.reshape(-1)[at] = np.maximum(p, q) + extra
        return lo.sum(axis=-1), hi.sum(axis=-1)
    p, q = -W * y_lo, -W * y_hi
    miss_lo, miss_hi = np.minimum(p, q), np.maximum(p, q)
    missing, corrupted = kind == MISSING, kind == CORRUPTED
    failed = missing | corrupted
    if corrupted.any():
        extra = (np.abs(W) + eta) * C
        lo = np.where(failed, miss_lo, -mag) - np.where(corrupted, extra, 0.0)
        hi = np.where(failed, miss_hi, mag) + np.where(corrupted, extra, 0.0)
    else:
        # x - 0.0 is x, bit for bit (signed zeros too); x + 0.0 turns -0.0 into 0.0.
        lo = np.where(failed, miss_lo, -mag)
        hi = np.where(failed, miss_hi, mag)
        hi += 0.0
    return lo.sum(axis=-1), hi.sum(axis=-1)


def _per_trial_any(mask: Array) -> Array:
    """(B, ...) bool -> (B,): any along everything but the trial axis."""
    return mask.reshape(len(mask), -1).any(axis=1)


class _Block:
    """One group of trials sharing the first layer with a failure term (`first`)."""

    def __init__(self, shared: SignedBlockBound, kinds: list[Array], caps: list[Array],
                 first: int, group: dict | None = None,
                 failed: Sequence[FailedSignals] | None = None) -> None:
        self.shared = shared
        self.net, self.iv, self.etas, self.C = shared.net, shared.iv, shared.etas, shared.C
        self.kinds, self.caps, self.first = kinds, caps, first
        self.failed = failed  # FailedSignals.of(kinds[l-1]) per layer, if known
        self.boxes: dict[int, tuple[Array, Array]] = {}
        self.relax: dict[int, _Relaxation] = {}
        self.rhos: dict[int, Array] = {}  # per layer, for this run's faulty values
        # What the chord and the flat runs of the same trials share (`masked_output`).
        self.group = {} if group is None else group
        self.flat = False  # set by `bound`

    def rho(self, l: int, p_lo: Array, p_hi: Array) -> Array:
        """`_rho` per trial, (B, N_l)."""
        net = self.net
        b = net.biases[l - 1]
        A, n = self.shared.abs_weights(l), net.sizes[l - 1]
        eta, caps = self.etas[l - 1], self.caps[l - 1]
        if p_lo.ndim == 1:
            # Shared values (layer `first`): a trial's u depends on it only through its
            # capacity (0 or C), so one product per value, the per-trial function's own.
            u0 = np.maximum(np.abs(p_lo), np.abs(p_hi))
            faulty = np.empty((len(caps), net.sizes[l]))
            for c in np.unique(caps).tolist():
                u = np.maximum(u0, c)
                faulty[caps == c] = faulty_rounding(A @ u + eta * u.sum(), b, n)
        else:
            # Per trial: the same for the box and the masked output of a layer (one run
            # has one set of faulty values per layer).
            if l in self.rhos:
                return self.rhos[l]
            u = np.maximum(np.maximum(np.abs(p_lo), np.abs(p_hi)), caps[:, None])
            faulty = faulty_rounding(_mv(A, u) + eta * u.sum(axis=-1)[:, None], b, n)
            self.rhos[l] = faulty + faulty + self.shared.fault_free_rounding(l)
            return self.rhos[l]
        return faulty + faulty + self.shared.fault_free_rounding(l)

    def start(self, y_lo: Array, y_hi: Array, box: tuple[Array, Array]
              ) -> tuple[Array, Array]:
        """Layer `first`'s failure term widened by the rounding (the same for both kinds
        of lines)."""
        with np.errstate(invalid="ignore", over="ignore"):
            r_lo, r_hi = widen(*box, self.rho(self.first, y_lo, y_hi))
        return -finite_or_inf(-r_lo), finite_or_inf(r_hi)

    def substitute(self, l: int, g: Array, const: Array,
                   parts: tuple[Array, Array, Array] | None = None,
                   stacked: bool = False) -> Array:
        """`_substitute` per trial: g (rows, N_{l-1}) or (B, rows, N_{l-1}), const (B, rows).

        parts: (max(g, 0), min(g, 0), |g|) if already computed. stacked: the rows are g's,
        then their negatives (rows of at most SHORT terms only, where the compiled step
        forms both; longer ones come stacked already).
        """
        net, first = self.net, self.first
        const = const.copy()
        size = np.abs(const)
        mag_g = None  # |g| until a step makes the magnitudes their own
        off = np.zeros(const.shape)  # `_substitute`'s underflow companions, per trial
        under = np.zeros(const.shape)
        with np.errstate(invalid="ignore", over="ignore"):
            for k in range(l - 1, first - 1, -1):
                rx = self.relax[k]
                r_lo, r_hi = self.boxes[k]
                offsets = rx.up_off + rx.dev_abs
                slope = np.maximum(rx.up_slope, rx.lo_slope)
                terms = slope * (np.maximum(np.abs(r_lo), np.abs(r_hi)) + rx.pre_abs)
                if g.shape[-1] <= SHORT:
                    step = self._short_step(k, g, stacked, mag_g, offsets, slope, terms,
                                            const, size)
                else:
                    step = self._long_step(k, g, parts, mag_g, offsets, slope, terms,
                                           const, size)
                parts, stacked = None, False
                live, done, below = step
                # Where the flat lines' rest adds nothing (done), the second term is 0: the
                # reference adds it too.
                under += underflow_term(off, offsets, live)
                under += underflow_term(off, terms, live)
                if done or k == first:
                    break
                lam, mag_next, lam_live = below
                off = coefficient_underflow(off, slope.max(axis=-1, keepdims=True),
                                            lam_live, net.weights[k - 1])
                g = lam @ net.weights[k - 1]
                mag_g = mag_next @ self.shared.abs_weights(k)
            err = gamma(sum(net.sizes) + 16) * (size + under) + under
            return finite_or_inf(up(const + up(err)))

    def _short_step(self, k: int, g: Array, stacked: bool, mag_g: Array | None,
                    offsets: Array, slope: Array, terms: Array, const: Array, size: Array):
        """One step of `substitute` on rows of at most SHORT terms: the compiled kernel
        (`substitution_step`) adds to const and size in place. Returns (live, done: the flat
        lines' rest adds nothing (`_adds_zeros`), (lam, |g| slope, lam's live rows) or None
        at the last step)."""
        rx = self.relax[k]
        r_lo, r_hi = self.boxes[k]
        B, rows = const.shape
        g3 = g if g.ndim == 3 else g[None]
        mag = _NONE if mag_g is None else mag_g
        live = np.empty((B, rows), dtype=bool)
        more = k > self.first
        n = g.shape[-1]
        lam = np.empty((B, rows, n)) if more else _NONE
        mag_next = np.empty((B, rows, n)) if more else _NONE
        lam_live = np.empty((B, rows), dtype=bool) if more else _NONE_BOOL
        substitution_step(np.ascontiguousarray(g3), stacked, np.ascontiguousarray(mag),
                          rx.up_off, rx.lo_off, offsets, rx.up_slope * r_hi,
                          rx.lo_slope * r_lo, terms, const, size, live, rx.up_slope,
                          rx.lo_slope, slope, lam, mag_next, lam_live)
        done = self.flat and self._adds_zeros(k, g3, const)
        return live, done, (lam, mag_next, lam_live) if more else None

    def _long_step(self, k: int, g: Array, parts: tuple[Array, Array, Array] | None,
                   mag_g: Array | None, offsets: Array, slope: Array, terms: Array,
                   const: Array, size: Array):
        """`_short_step` on longer rows: BLAS's products per trial, as `row_dot`."""
        rx = self.relax[k]
        r_lo, r_hi = self.boxes[k]
        gp, gn, mag = parts or (np.maximum(g, 0.0), np.minimum(g, 0.0), np.abs(g))
        if mag_g is not None:
            mag = mag_g
        const += _mv(gp, rx.up_off) + _mv(gn, rx.lo_off)
        size += _mv(mag, offsets)
        live = np.any(g != 0.0, axis=-1)
        if self.flat and self._adds_zeros(k, g, const):
            return live, True, None
        # The reference's expressions: the slopes multiply the box first.
        const += _mv(gp, rx.up_slope * r_hi) + _mv(gn, rx.lo_slope * r_lo)
        size += _mv(mag, terms)
        if k == self.first:
            return live, False, None
        # In place: the same bits, fewer large allocations.
        lam = gp * rx.up_slope[:, None, :]
        lam += gn * rx.lo_slope[:, None, :]
        return live, False, (lam, mag * slope[:, None, :], np.any(lam != 0.0, axis=-1))

    def _adds_zeros(self, k: int, g: Array, const: Array) -> bool:
        """Whether, with flat lines, the rest of `substitute` from layer k down leaves const
        and size as they are, bit for bit.

        Flat lines have slopes exactly 0: lam = gp * 0 + gn * 0 is +-0 where g is finite, so
        every term still to come is a sum of +-0 (where the boxes, offsets, bounds and
        weights it meets are finite), and size, >= 0, is unchanged by +0. x + (+-0) is x
        for every x but -0.0 (which +0 turns into +0), so no entry of const may be -0.0.
        Any of these failing: the substitution runs on, as the per-trial function's does.
        """
        parts = [g, *self.boxes[k]]
        for j in range(self.first, k):
            rx = self.relax[j]
            parts += [rx.up_off, rx.lo_off, rx.dev_abs, *self.boxes[j]]
        for j in range(self.first, k + 1):
            parts.append(self.relax[j].pre_abs)
        if not all(np.isfinite(x).all() for x in parts):
            return False
        if not all(self.shared.weights_finite[j - 1] for j in range(self.first + 1, k + 1)):
            return False
        return not ((const == 0.0) & np.signbit(const)).any()

    def back_substitute(self, t: int) -> tuple[Array, Array]:
        """`_back_substitute` per trial: (low, high), (B, N_t)."""
        n = self.net.sizes[t]
        r_lo, r_hi = self.boxes[t]
        const = np.concatenate([r_hi, -r_lo], axis=-1)
        if t > self.first and self.net.sizes[t - 1] <= SHORT:  # [W; -W], formed per row
            const = self.substitute(t, self.net.weights[t - 1], const, stacked=True)
        elif t > self.first:
            g, parts = self.shared.stacked_weights(t)
            const = self.substitute(t, g, const, parts)
        else:  # at the first layer nothing is substituted: g is not used (no columns)
            const = self.substitute(t, np.zeros((2 * n, 0)), const)
        return -const[:, n:], const[:, :n]

    def masked_output(self, p_lo: Array, p_hi: Array, a: Array, b: Array
                      ) -> tuple[Array, Array]:
        """`_masked_output` with `GivenSet.output_sets`, per trial; trials whose output
        layer used every signal keep (a, b)."""
        net, iv = self.net, self.iv
        out = net.depth + 1
        kind = self.kinds[-1]
        W = net.weights[-1]
        eta = self.etas[-1]
        group = self.group
        with np.errstate(invalid="ignore", over="ignore"):
            if "failed" not in group:  # what depends on the kinds alone: once per group
                # The failed senders' terms need only the fault-free values (shared).
                y_lo, y_hi = iv.low[net.depth], iv.high[net.depth]
                p, q = -W * y_lo, -W * y_hi
                group["miss"] = np.minimum(p, q), np.maximum(p, q)
                corrupted = kind == CORRUPTED
                group["failed"] = (kind == MISSING) | corrupted
                group["extra"] = np.where(corrupted, (np.abs(W) + eta) * self.C, 0.0)
                g = W * (kind == CORRECT)
                if W.shape[1] <= SHORT:  # [g; -g], formed per row by the compiled step
                    group["g"] = g, None, True
                else:
                    g = np.concatenate([g, -g], axis=1)
                    group["g"] = g, (np.maximum(g, 0.0), np.minimum(g, 0.0), np.abs(g)), False
                group["some"] = _per_trial_any(kind != CORRECT)[:, None]
            # The correct senders' precision terms need the faulty values (per run); the
            # same values give the same sums.
            mag = eta * np.maximum(np.abs(p_lo), np.abs(p_hi))[:, None, :]
            key = mag.tobytes()
            if group.get("mag") != key:
                (miss_lo, miss_hi), failed, extra = group["miss"], group["failed"], group["extra"]
                lo = (np.where(failed, miss_lo, -mag) - extra).sum(-1)
                hi = (np.where(failed, miss_hi, mag) + extra).sum(-1)
                group["mag"], group["sums"] = key, (lo, hi)
            lo, hi = group["sums"]
            const = np.concatenate([hi, -lo], axis=-1)
            rho = self.rho(out, p_lo, p_hi)
            const = finite_or_inf(const + np.concatenate([rho, rho], axis=-1))
            g, parts, stacked = group["g"]
            bound = self.substitute(out, g, const, parts, stacked)
        n = net.sizes[-1]
        some = group["some"]
        return (np.where(some, np.maximum(a, -bound[:, n:]), a),
                np.where(some, np.minimum(b, bound[:, :n]), b))

    def bound(self, y_lo: Array, y_hi: Array, box: tuple[Array, Array], flat: bool) -> Array:
        """The output error bound of each trial (`signed_layers(...).bound`), (B,).

        y_lo, y_hi: the values layer `first` receives (shared: nothing deviates below it);
        box: layer `first`'s failure term as `start` gives it, (B, N_first) each.
        """
        net, iv = self.net, self.iv
        out = net.depth + 1
        self.flat = flat
        for l in range(self.first, out + 1):
            if l == self.first:
                self.boxes[l] = box
            else:
                with np.errstate(invalid="ignore", over="ignore"):
                    r_lo, r_hi = _box(net.weights[l - 1], y_lo, y_hi, self.etas[l - 1],
                                      self.C, self.kinds[l - 1],
                                      None if self.failed is None else self.failed[l - 1])
                    r_lo, r_hi = widen(r_lo, r_hi, self.rho(l, y_lo, y_hi))
                self.boxes[l] = (-finite_or_inf(-r_lo), finite_or_inf(r_hi))
            a, b = self.back_substitute(l)
            if l == out and self.first < l:
                a, b = self.masked_output(y_lo, y_hi, a, b)
            if l < out:
                phi, s_lo, s_hi = net.phis[l - 1], iv.pre_low[l], iv.pre_high[l]
                self.relax[l] = (_relax_flat if flat else _relax)(phi, s_lo, s_hi, a, b)
                y_lo, y_hi = _faulty_values(phi, s_lo, s_hi, a, b)
        v = np.maximum(-a, b)
        return np.where(np.isnan(v).any(axis=-1), np.inf, v.max(axis=-1))


class SignedBlockBound:
    """The signed given-set bound of blocks of trials on one network (what a run needs once:
    |W|, the fault-free run's rounding, the values below any failure).

    signals[l-1]: int array (B, N_l, N_{l-1}) of CORRECT, MISSING, CORRUPTED (nothing
    else), what each receiver of layer l used from each sender in each trial.
    """

    def __init__(self, net: Network, eta: Sequence[float] | float = 0.0,
                 capacity: float = 1.0, intervals: Intervals | None = None) -> None:
        self.net, self.C = net, capacity
        self.iv = intervals or network_intervals(net)
        self.etas = ([float(eta)] * len(net.weights) if np.isscalar(eta)
                     else [float(e) for e in eta])
        self._abs: dict[int, Array] = {}
        self._rounding: dict[int, Array] = {}
        self._stacked: dict[int, tuple[Array, tuple[Array, Array, Array]]] = {}

    def abs_weights(self, l: int) -> Array:
        if l not in self._abs:
            self._abs[l] = np.abs(self.net.weights[l - 1])
        return self._abs[l]

    def fault_free_rounding(self, l: int) -> Array:
        """The rounding of the fault-free run's sums into layer l (`_rho`'s last term)."""
        if l not in self._rounding:
            n = self.net.sizes[l - 1]
            self._rounding[l] = summation_error(
                self.abs_weights(l) @ self.iv.sup_abs(l - 1), self.net.biases[l - 1], n)
        return self._rounding[l]

    def stacked_weights(self, l: int) -> tuple[Array, tuple[Array, Array, Array]]:
        """[W; -W] of layer l (what the back-substitution from layer l starts from) and
        its (max(g, 0), min(g, 0), |g|), the same for every block."""
        if l not in self._stacked:
            W = self.net.weights[l - 1]
            g = np.vstack([W, -W])
            self._stacked[l] = g, (np.maximum(g, 0.0), np.minimum(g, 0.0), np.abs(g))
        return self._stacked[l]

    @cached_property
    def weights_finite(self) -> list[bool]:
        return [bool(np.isfinite(W).all()) for W in self.net.weights]

    @cached_property
    def fault_free_values(self) -> list[tuple[Array, Array]]:
        """[l]: what layer l + 1 receives where nothing deviated below it, l = 0..L."""
        net, iv = self.net, self.iv
        values = [(iv.low[0], iv.high[0])]
        for l in range(1, net.depth + 1):
            zero = np.zeros(net.sizes[l])
            values.append(_faulty_values(net.phis[l - 1], iv.pre_low[l], iv.pre_high[l],
                                         zero, zero))
        return values

    def no_precision_term(self, l: int) -> bool:
        """Whether a correct signal into layer l adds exactly 0 to the failure term where
        nothing deviated below (eta times the values' bound is 0 for every sender)."""
        y_lo, y_hi = self.fault_free_values[l - 1]
        return not precision_term(self.etas[l - 1], y_lo, y_hi)

    def __call__(self, signals: Sequence[Array], given: Array | None = None,
                 failed: Sequence[FailedSignals] | None = None) -> Array:
        """(B,) bounds (max-norm over the outputs). given: the trials' weight-aware
        given-set bounds (`given_set_bounds` with the same arguments), (B,), if already
        computed; failed: `FailedSignals.of(signals[l-1])` per layer, if already found."""
        net, C = self.net, self.C
        kinds = [np.asarray(k) for k in signals]
        n_trials = kinds[0].shape[0]
        if n_trials == 0:
            return np.empty(0)
        if given is None:
            given = given_set_bounds(net, kinds, self.etas, C, intervals=self.iv,
                                     failed=failed)
        out = net.depth + 1
        # capacity_used per layer and trial: C where a receiver used a corrupted value.
        if failed is None:
            caps = [np.where(_per_trial_any(k == CORRUPTED), C, 0.0) for k in kinds]
        else:
            caps = [np.where(f.per_trial(corrupted_only=True), C, 0.0) for f in failed]
        # A trial with no failure term at any layer: every deviation bound is 0 (the same
        # float as the per-trial function's, signed zero included).
        zero = np.zeros(net.sizes[-1])
        v0 = np.maximum(-zero, zero)
        raw = np.full(n_trials, float(np.inf if np.any(np.isnan(v0)) else v0.max()))

        # Below its first failure term a trial's values are the fault-free ones (shared by
        # all trials); find each trial's first such layer, keeping that layer's box.
        pending = np.arange(n_trials)
        for l in range(1, out + 1):
            if not len(pending):
                break
            y_lo, y_hi = self.fault_free_values[l - 1]
            eta = self.etas[l - 1]
            candidates = pending
            all_pending = len(pending) == n_trials
            kind = kinds[l - 1] if all_pending else kinds[l - 1][pending]
            kind_failed = failed[l - 1] if failed is not None and all_pending else None
            if self.no_precision_term(l):
                # Every correct signal's term is exactly 0: a trial whose receivers used
                # every signal of layer l has a box of zeros, and does not start here.
                some = _per_trial_any(kind != CORRECT) if kind_failed is None else \
                    kind_failed.per_trial()
                if not some.all():
                    candidates, kind, kind_failed = pending[some], kind[some], None
                    if not len(candidates):
                        continue
            whole = len(candidates) == n_trials
            with np.errstate(invalid="ignore", over="ignore"):
                r_lo, r_hi = _box(net.weights[l - 1], y_lo, y_hi, eta, C, kind, kind_failed)
            # As `signed_layers`: a failure term, or a failed signal (its terms can cancel).
            some_failed = _per_trial_any(kind != CORRECT) if kind_failed is None else \
                kind_failed.per_trial()
            starts = ((r_lo != 0.0) | (r_hi != 0.0)).any(axis=-1) | some_failed \
                | precision_term(eta, y_lo, y_hi)
            if not starts.any():
                continue
            rows = candidates[starts]
            every = whole and bool(starts.all())
            group = [k if every else k[rows] for k in kinds]
            group_caps = [c if every else c[rows] for c in caps]
            box = (r_lo, r_hi) if every else (r_lo[starts], r_hi[starts])
            best, shared_by_both = None, {}
            for flat in (False, True):
                block = _Block(self, group, group_caps, l, shared_by_both,
                               failed if every else None)
                if best is None:
                    box = block.start(y_lo, y_hi, box)
                value = block.bound(y_lo, y_hi, box, flat)
                best = value if best is None else np.where(value < best, value, best)
            raw[rows] = best
            pending = np.setdiff1d(pending, rows, assume_unique=True)
        given = np.asarray(given, dtype=float)
        return np.where(given < raw, given, raw)


def given_set_signed_bounds(net: Network, signals: Sequence[Array],
                            eta: Sequence[float] | float = 0.0, capacity: float = 1.0,
                            intervals: Intervals | None = None, given: Array | None = None
                            ) -> Array:
    """`given_set_signed_bound` for a block of B trials, bit-identical trial by trial.

    signals[l-1]: int array (B, N_l, N_{l-1}) of CORRECT, MISSING, CORRUPTED, what each
    receiver of layer l used from each sender in each trial. given: the trials'
    weight-aware given-set bounds (`given_set_bounds` with the same arguments), (B,), if
    already computed. Returns (B,) floats (max-norm over the outputs). A run calls a
    `SignedBlockBound` once per block instead (it keeps what the blocks share).
    """
    return SignedBlockBound(net, eta, capacity, intervals)(signals, given)
