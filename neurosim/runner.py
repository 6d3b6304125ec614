"""`neurosim run`: simulate a scenario's trials, check every bound, write the results.

Life cycle (as desmod's simulate): build (Setup, bounds) -> run the trials
-> collect (summary). Trials run in blocks (`block_size`): the vectorised
engine simulates a block at once, the SimPy engine one trial after the other;
bounds, checks and rows are then computed for the whole block. Each block's
rows are appended to trials.csv and flushed, and the summary is accumulated
without keeping rows (`neurosim.results`), so a run of a million trials
stays small and an interrupted run keeps every finished trial and a summary.

Every trial checks

    measured error <= given-set bound <= weight-aware <= paper Fep
    measured error <= given-set signed <= signed <= weight-aware (and <= given-set)

and with quorum = "auto" the certificate measured error <= epsilon. The
worst-case bounds hold for *at most* the scenario's counts; a trial whose
receivers missed or got corrupted more signals than that (a timeout fired
early) is checked against the bounds for its own counts. The measured error
is compared with no tolerance (the bounds hold for float64); bounds with one
another to within their evaluation rounding (`bounds_ordered`). A NaN bound
is a violation too, and so is a NaN error (an output the float64 engine could
not compute: a sum that overflowed, inf - inf) unless its bound is +inf, the
bound that says nothing (`within`). A violation is a bug: it is recorded with the
scenario, seed and trial that reproduce it, and `run` exits 1.
"""

from __future__ import annotations

import csv
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from neurosim.applications import Applications
from neurosim.bounds.failed_terms import FailedSignals
from neurosim.bounds.intervals import Intervals
from neurosim.bounds.linear_intervals import network_intervals
from neurosim.bounds.paper import paper_fep
from neurosim.bounds.rounding import CHAIN_RTOL, TINY, bounds_ordered
from neurosim.bounds.signed import signed_bound
from neurosim.bounds.signed_batch import SignedBlockBound
from neurosim.bounds.weight_aware import given_set_bounds, weight_aware_bound
from neurosim.data import atomic, strict_json
from neurosim.data.counts import Failures
from neurosim.data.scenario import Scenario
from neurosim.data.signals import CORRUPTED, MISSING
from neurosim.engines.block import (
    BlockOutcome,
    BlockPlan,
    fault_free_outputs,
    join_blocks,
    plan_block,
    simulate_block,
    stack_outcomes,
    stack_plans,
)
from neurosim.engines.des import simulate_des
from neurosim.engines.fast import simulate_fast
from neurosim.engines.memory import (
    DRAWN_BYTES_PER_SYNAPSE,
    drawn_synapses,
    trial_bytes,
)
from neurosim.engines.plan import FiringRule, Planner, TrialPlan
from neurosim.results import Tally, summarize, write_rows
from neurosim.setup import Setup

# One trial at a time; `run_trials` runs "fast" a block at a time (simulate_block).
ENGINES = {"des": simulate_des, "fast": simulate_fast}
BATCHED = {"fast": simulate_block}

# Block sizes: memory for the block's arrays (`neurosim.engines.memory.trial_bytes` a
# trial), and about BLOCK_SECONDS of work per block, so rows reach trials.csv
# steadily. 64 MB measured
# faster than 256 MB (10-20%: the arrays stay nearer the cache) and than 16 MB (the
# per-block work in Python grows), on digits and on a 784-256-128-10 network (there 7
# trials a block: 175 trials/s, against 148 at 2 and 151 at 16).
BLOCK_BYTES = 64 * 2**20
MAX_BLOCK = 4096
FIRST_BLOCK = 8
BLOCK_SECONDS = 0.5
# The vectorised engine's bounds, checks and rows take at least BOUND_TRIALS trials at
# once where the simulation's memory allows fewer (several simulated chunks are joined,
# their delays dropped): their numpy calls are per block, and a block of 7 trials spends
# more on calls than on work. Measured on 784-256-128-10 (chunks of 7): the failed
# signals and both given-set bounds took 1.63 ms a trial in blocks of 7, 1.19 in 16 and
# 1.14 in 32 (1.35 in 64, out of the cache). What a joined block keeps per signal: the
# used mask and the kinds, about KEPT_BYTES_PER_SYNAPSE.
BOUND_TRIALS = 32
KEPT_BYTES_PER_SYNAPSE = 4

FIELDS = ["trial", "input_index", "error", "bound_given_set", "bound_given_set_signed",
          "latency", "blocked",
          "messages_sent", "messages_received", "messages_lost", "messages_used",
          "messages_wasted", "prediction", "fault_free_prediction", "label",
          "beyond_counts"]


@dataclass
class Violation:
    trial: int
    what: str
    measured: float
    bound: float

    def describe(self, setup: Setup) -> str:
        scn = setup.scenario
        nan = (" (NaN: a float64 overflow or invalid operation)"
               if np.isnan(self.measured) or np.isnan(self.bound) else "")
        return (f"{self.what}{nan}: {self.measured:.17g} > {self.bound:.17g} in scenario "
                f"{scn.source} (seed {scn.seed}, trial {self.trial}); reproduce with "
                f"`neurosim run {scn.source} --seed {scn.seed} --trials {self.trial + 1}`")


@dataclass
class Bounds:
    """The worst-case bounds for at most some counts (paper's Fep, weight-aware)."""

    paper: float
    weight_aware_global: float
    weight_aware: float
    paper_exact_f: float
    signed: float

    @classmethod
    def of(cls, net, failures: Failures, iv: Intervals) -> Bounds:
        paper = paper_fep(net, failures)
        return cls(paper.fep, weight_aware_bound(net, failures, local=False, intervals=iv),
                   weight_aware_bound(net, failures, local=True, intervals=iv),
                   paper.fep_exact_f, signed_bound(net, failures, intervals=iv))

    @property
    def tightest(self) -> float:
        """The smallest of the worst-case bounds (each is sound, so the least is too)."""
        return min(self.signed, self.weight_aware, self.weight_aware_global, self.paper)

    def chain(self) -> list[tuple[str, float, float]]:
        return [("signed bound above the weight-aware", self.signed, self.weight_aware),
                ("weight-aware (local K) above weight-aware (global K)", self.weight_aware,
                 self.weight_aware_global),
                ("weight-aware bound above the paper's Fep", self.weight_aware_global,
                 self.paper)]


def within(error: float | np.ndarray, bound: float | np.ndarray) -> bool | np.ndarray:
    """A measured error against its bound, elementwise: error <= bound, with no tolerance.
    A NaN error (the engine's sum overflowed) is within +inf only: a bound that can say
    nothing of the float64 run says +inf; any finite bound is broken by it."""
    return (error <= bound) | (np.isnan(error) & (bound == np.inf))


@dataclass
class Checks:
    """Every trial's chain of checks, and the violations found.

    declared: the bounds for the scenario's counts. A trial whose receivers
    missed or got corrupted more signals than those counts (a timeout fired
    on fewer signals) is checked against the bounds for its own counts,
    computed once per distinct count vector (`beyond`).
    """

    setup: Setup
    iv: Intervals
    declared: Bounds
    certificate: float | None = None
    violations: list[Violation] = field(default_factory=list)
    beyond: dict[tuple, Bounds] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for what, lo, hi in self.declared.chain():
            self._check(-1, what, lo, hi, bounds_ordered)

    def _check(self, trial: int, what: str, value: float, bound: float, ok) -> None:
        if not ok(value, bound):  # also catches a NaN on either side
            self.violations.append(Violation(trial, what, value, bound))

    def applicable(self, counts: Failures) -> tuple[Bounds, bool]:
        """The bounds that cover a trial with these realised counts, and whether they are
        beyond the declared ones."""
        f = self.setup.failures
        if all(m <= d for m, d in zip(counts.missing, f.missing)) and \
                all(z <= d for z, d in zip(counts.corrupted, f.corrupted)):
            return self.declared, False
        key = (tuple(max(a, b) for a, b in zip(counts.missing, f.missing)),
               tuple(max(a, b) for a, b in zip(counts.corrupted, f.corrupted)))
        if key not in self.beyond:
            wider = Failures(key[0], key[1], f.eta, f.capacity)
            self.beyond[key] = b = Bounds.of(self.setup.net, wider, self.iv)
            for what, lo, hi in b.chain():
                self._check(-1, f"{what} (counts {list(key[0])} missing, "
                            f"{list(key[1])} corrupted)", lo, hi, bounds_ordered)
        return self.beyond[key], True

    def trial(self, trial: int, error: float, given: float, blocked: bool,
              counts: Failures, given_signed: float | None = None) -> bool:
        """Record every broken link of the chain for one trial; True if the trial's counts
        were beyond the declared ones.

        measured <= given-set <= weight-aware for the counts that cover the trial, and
        measured <= given-set signed <= signed (and <= given-set);
        measured <= epsilon under a certified quorum. A blocked trial has no output,
        so nothing to check.
        """
        bounds, beyond = self.applicable(counts)
        if not blocked:
            self._check(trial, "given-set bound above the weight-aware", given,
                        bounds.weight_aware, bounds_ordered)
            self._check(trial, "measured error above the given-set bound", error, given,
                        within)
            if given_signed is not None:
                self._check(trial, "given-set signed bound above the signed", given_signed,
                            bounds.signed, bounds_ordered)
                self._check(trial, "given-set signed bound above the given-set", given_signed,
                            given, bounds_ordered)
                self._check(trial, "measured error above the given-set signed bound", error,
                            given_signed, within)
            if self.certificate is not None:
                self._check(trial, "certificate (epsilon) broken", error, self.certificate,
                            lambda a, b: a <= b)
        return beyond

    def block(self, trials: np.ndarray, error: np.ndarray, given: np.ndarray,
              blocked: np.ndarray, missing: np.ndarray, corrupted: np.ndarray,
              given_signed: np.ndarray) -> np.ndarray:
        """`trial` for a block of B trials (arrays (B,); missing, corrupted (B, L+1) realised
        counts); returns beyond (B,) bool.

        The trials within the declared counts whose checks all hold are found at once (the
        same comparisons as `trial`, elementwise); every other trial goes through `trial`,
        in trial order, so the violations recorded are the same, in the same order.
        """
        f, d = self.setup.failures, self.declared
        in_counts = (missing <= np.array(f.missing)).all(axis=1) & \
            (corrupted <= np.array(f.corrupted)).all(axis=1)

        def ordered(smaller, larger):  # bounds_ordered, elementwise
            return smaller <= larger * (1.0 + CHAIN_RTOL) + TINY

        with np.errstate(invalid="ignore", over="ignore"):
            fine = ordered(given, d.weight_aware) & within(error, given) & \
                ordered(given_signed, d.signed) & ordered(given_signed, given) & \
                within(error, given_signed)
            if self.certificate is not None:
                fine &= error <= self.certificate
        beyond = np.zeros(len(trials), dtype=bool)
        for b in np.flatnonzero(~(in_counts & (blocked | fine))):
            counts = Failures(tuple(int(m) for m in missing[b]),
                              tuple(int(z) for z in corrupted[b]), f.eta, f.capacity)
            beyond[b] = self.trial(int(trials[b]), float(error[b]), float(given[b]),
                                   bool(blocked[b]), counts, float(given_signed[b]))
        return beyond


def scenario_checks(setup: Setup, iv: Intervals) -> Checks:
    certified = setup.quorum_plan is not None and setup.quorum_plan["certified"]
    return Checks(setup, iv, Bounds.of(setup.net, setup.failures, iv),
                  setup.quorum_plan["budget"] if certified else None)


def _prediction(output: np.ndarray) -> int | str:
    """The predicted class, as scikit-learn's MLPClassifier.predict gives it.

    Several outputs: the argmax. One output (a binary classifier's logit):
    class 1 when the logit is > 0. "" when an output is NaN or inf.
    """
    if len(output) == 0 or not np.all(np.isfinite(output)):
        return ""
    if len(output) == 1:
        return int(output[0] > 0)
    return int(np.argmax(output))


def _predictions(outputs: np.ndarray) -> list[int | str]:
    """`_prediction` of each row of outputs (B, N_out), at once."""
    if outputs.shape[1] == 0:
        return [""] * len(outputs)
    finite = np.isfinite(outputs).all(axis=1)
    pred = outputs[:, 0] > 0 if outputs.shape[1] == 1 else np.argmax(outputs, axis=1)
    return [int(p) if ok else "" for p, ok in zip(pred.tolist(), finite.tolist())]


def realised_counts(kinds: list[np.ndarray], fire_time: list[np.ndarray],
                    failures: Failures) -> Failures:
    """The most missing / corrupted signals any receiver that fired used, per layer."""
    missing, corrupted = [], []
    for kind, t in zip(kinds, fire_time[1:], strict=True):
        k = kind[np.isfinite(t)]
        missing.append(int((k == MISSING).sum(1).max(initial=0)))
        corrupted.append(int((k == CORRUPTED).sum(1).max(initial=0)))
    return Failures(tuple(missing), tuple(corrupted), failures.eta, failures.capacity)


class SignedGivenSet:
    """The signed given-set bound of each trial of a block, from its signal kinds.

    A block's trials are evaluated at once (`SignedBlockBound`, bit-identical to the
    per-trial `given_set_signed_bound`). The bound depends on the signal kinds alone (the
    network, eta and C being the run's), so trials that used the same signals (a crash
    pattern that recurs, a run where nothing fails) share one evaluation, within a block
    and across blocks: a memo of at most MEMO_BYTES of keys. Where the signals seldom
    recur (fewer than one trial in MEMO_HITS of the first MEMO_TRIALS found its value
    already computed), the keys cost more than they save, and the memo is dropped:
    the values are the same either way.
    """

    MEMO_BYTES = 64 * 2**20
    MEMO_TRIALS = 64
    MEMO_HITS = 4

    def __init__(self, setup: Setup, iv: Intervals) -> None:
        self.bound = SignedBlockBound(setup.net, setup.failures.eta, setup.failures.capacity,
                                      iv)
        self.memo: dict[bytes, float] | None = {}
        self.room = self.MEMO_BYTES
        self.seen = self.saved = 0

    def block(self, kinds: list[np.ndarray], given: np.ndarray | None = None,
              failed: list[FailedSignals] | None = None) -> np.ndarray:
        """kinds[l-1] (B, N_l, N_{l-1}) -> (B,) bounds; given: the block's weight-aware
        given-set bounds (B,), if already computed; failed: `FailedSignals` of the kinds."""
        n = len(kinds[0])
        if self.memo is None:
            return self.bound(kinds, given, failed)
        keys = [b"".join(k[b].tobytes() for k in kinds) for b in range(n)]
        values = np.empty(n)
        todo: dict[bytes, list[int]] = {}
        for b, key in enumerate(keys):
            value = self.memo.get(key)
            if value is None:
                todo.setdefault(key, []).append(b)
            else:
                values[b] = value
        if todo:
            rows = np.array([b[0] for b in todo.values()])
            whole = len(rows) == n
            new = self.bound(kinds if whole else [k[rows] for k in kinds],
                             None if given is None else (given if whole else given[rows]),
                             failed if whole else None)
            for (key, where), value in zip(todo.items(), new.tolist(), strict=True):
                values[where] = value
                if len(key) <= self.room:
                    self.memo[key] = value
                    self.room -= len(key)
        self.seen += n
        self.saved += n - len(todo)
        if self.seen >= self.MEMO_TRIALS and self.saved * self.MEMO_HITS < self.seen:
            self.memo = None
        return values


def _row_counts(mask: np.ndarray) -> np.ndarray:
    """bool (..., n) -> the True entries of each row, as ints (summed as bytes: a sum of
    bools converts each to a 64-bit int first, several times slower)."""
    n = mask.shape[-1]
    dtype = np.int16 if n < 2**15 else np.int64
    return mask.view(np.int8).sum(axis=-1, dtype=dtype)


def _per_receiver(kind: np.ndarray, failed: FailedSignals | None, what: int) -> np.ndarray:
    """How many signals of kind `what` (MISSING or CORRUPTED) each receiver got."""
    if failed is None:
        return _row_counts(kind == what)
    return failed.per_receiver(corrupted=what == CORRUPTED)


def realised_counts_block(kinds: list[np.ndarray], fire_time: list[np.ndarray],
                          replaced: list[np.ndarray] | None = None,
                          failed: list[FailedSignals] | None = None
                          ) -> tuple[np.ndarray, np.ndarray]:
    """`realised_counts` for a block: kinds[l-1] (B, N_l, N_{l-1}), fire_time[l] (B, N_l)
    -> (missing, corrupted), int arrays (B, L+1). replaced: the plans' masks of replaced
    signals, if known (a layer where none is replaced has no corrupted signal); failed:
    `FailedSignals` of the kinds, if found (counted from them, not from the kinds)."""
    missing, corrupted = [], []
    for l, (kind, t) in enumerate(zip(kinds, fire_time[1:], strict=True)):
        fired = np.isfinite(t)
        f = None if failed is None else failed[l]
        missing.append(np.where(fired, _per_receiver(kind, f, MISSING), 0).max(axis=1))
        if replaced is not None and not replaced[l].any():
            corrupted.append(np.zeros(len(kind), dtype=np.int64))
        else:
            corrupted.append(np.where(fired, _per_receiver(kind, f, CORRUPTED), 0).max(axis=1))
    return (np.stack(missing, axis=1).astype(np.int64),
            np.stack(corrupted, axis=1).astype(np.int64))


def block_size(net, scn: Scenario | None = None) -> int:
    """The most trials whose arrays fit in BLOCK_BYTES (at least 1, at most MAX_BLOCK);
    scn: the scenario, whose precision and Byzantine values may add arrays per trial."""
    return max(1, min(MAX_BLOCK, BLOCK_BYTES // trial_bytes(scn, net)))


def joined_size(net, chunk: int, scn: Scenario | None = None) -> int:
    """The most trials a block of the vectorised engine takes, simulated `chunk` at a
    time: a whole number of chunks, at least BOUND_TRIALS trials where what a joined
    block keeps (KEPT_BYTES_PER_SYNAPSE, and the drawn weights and values twice while
    the chunks are joined) fits in BLOCK_BYTES, and never less than one."""
    chunks = -(-BOUND_TRIALS // chunk)
    fit = BLOCK_BYTES // (KEPT_BYTES_PER_SYNAPSE * net.n_weights + DRAWN_BYTES_PER_SYNAPSE
                          * (0 if scn is None else drawn_synapses(scn, net))
                          + 64 * sum(net.sizes))
    return chunk * max(1, min(chunks, fit // chunk))


def _simulate(engine: str, setup: Setup, planner: Planner, rule: FiringRule, trials: range,
              chunk: int | None = None
              ) -> tuple[list[TrialPlan], BlockPlan | None, BlockOutcome | None,
                         BaseException | None]:
    """Plan and simulate a block: (plans, the BlockPlan, the outcome, an interruption).

    chunk: batched engines simulate at most this many trials at once, then join them
    (`join_blocks`: the joined plan has no delays).
    plans: the block's TrialPlans (batched engines: only the first, for the trace of
    trial 0). An interruption in the SimPy engine's loop returns the trials finished
    before it, and the interruption, to raise once they are kept.
    """
    if engine in BATCHED:
        step = chunk or len(trials)
        parts, first = [], None
        for start in range(trials.start, trials.stop, step):
            bp = plan_block(planner, range(start, min(trials.stop, start + step)))
            first = first or bp.trial_plan(0)
            outcome = BATCHED[engine](setup.net, bp, rule)
            parts.append((replace(bp, latency=[]), outcome))  # the delays go once used
        bp, outcome = join_blocks(parts)
        return [first], bp, outcome, None
    simulate = ENGINES[engine]
    done, interrupted = [], None
    try:
        for plan in planner.plans(trials):
            # One append per trial: a Ctrl-C between two appends would leave a plan
            # without its outcome (or the reverse), and blocks of two lengths.
            done.append((plan, simulate(setup.net, plan, rule)))
    except KeyboardInterrupt as err:
        interrupted = err
    if not done:
        return [], None, None, interrupted
    plans = [plan for plan, _ in done]
    return plans, stack_plans(plans), stack_outcomes([out for _, out in done]), interrupted


def run_trials(setup: Setup, engine: str = "des", out_dir: Path | None = None,
               progress: bool = False, block: int | None = None) -> dict[str, Any]:
    """Simulate every trial of `setup`; write trials.csv and summary.json to `out_dir`.

    block: trials per block (default: chosen from memory and time, `block_size`); the
    results do not depend on it.
    """
    from threadpoolctl import threadpool_limits

    # One BLAS thread: a run's products are small (a block's trials, a layer's rows), and
    # where the other core is busy a second thread makes them wait on it. Measured on the
    # 784-1000-200-10 run beside another job: 0.043 s a trial with one thread, 0.04-0.14
    # with two (a (20, 200) @ (200, 1000) product took 15 ms instead of 0.15).
    with threadpool_limits(limits=1, user_api="blas"):
        return _run_trials(setup, engine, out_dir, progress, block)


def _run_trials(setup: Setup, engine: str, out_dir: Path | None, progress: bool,
                block: int | None) -> dict[str, Any]:
    if block is not None and block < 1:
        raise ValueError(f"block must be at least 1 trial, got {block}")
    scn, net = setup.scenario, setup.net
    rule = FiringRule.from_scenario(scn, setup.quorum)
    planner = Planner(scn, net, setup.inputs)
    iv = network_intervals(net)
    checks = scenario_checks(setup, iv)
    # Trial i runs input i mod n: a run of fewer trials than inputs needs the first ones only.
    inputs = setup.inputs[:scn.trials]
    fault_free = fault_free_outputs(net, inputs) if engine in BATCHED else net.forward(inputs)
    fault_free_pred = [_prediction(ff) for ff in fault_free]
    labels = None if setup.labels is None else [int(y) for y in setup.labels]
    eta, C = setup.failures.eta, setup.failures.capacity
    tally = Tally(net.depth + 1, labels is not None)
    apps = Applications(setup)
    signed = SignedGivenSet(setup, iv)
    terms: dict = {}  # what every block's given-set bound shares (`given_set_layers`)

    writer = handle = None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        handle = open(out_dir / "trials.csv", "w", newline="")
        writer = csv.writer(handle)
        writer.writerow(FIELDS + [f"layer_latency_{l}" for l in range(1, net.depth + 2)])
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=scn.trials, desc=scn.name, unit="trial")
    chunk = block or block_size(net, scn)
    cap = joined_size(net, chunk, scn) if engine in BATCHED else chunk
    size = block or min(cap, FIRST_BLOCK)
    started = time.perf_counter()
    try:
        first = 0
        while first < scn.trials:
            t0 = time.perf_counter()
            trials = range(first, min(scn.trials, first + size))
            plans, bp, outcome, interrupted = _simulate(engine, setup, planner, rule, trials,
                                                        chunk)
            if outcome is not None:
                kinds = outcome.signal_kinds(bp.replaced)
                # For the bounds and counts; where nothing is replaced, only missing ones.
                failed = [FailedSignals.of(k, missing_only=not r.any())
                          for k, r in zip(kinds, bp.replaced, strict=True)]
                given = given_set_bounds(net, kinds, eta, C, intervals=iv, terms=terms,
                                         failed=failed)
                given_signed = signed.block(kinds, given, failed)
                blocked = outcome.blocked
                with np.errstate(invalid="ignore"):
                    error = np.abs(outcome.output - fault_free[bp.input_index]).max(axis=1)
                error[blocked] = np.nan
                missing, corrupted = realised_counts_block(kinds, outcome.fire_time,
                                                           bp.replaced, failed)
                beyond = checks.block(bp.trials, error, given, blocked, missing, corrupted,
                                      given_signed)
                if apps.random:  # it follows the run trial by trial, in trial order
                    for b, (m, z) in enumerate(zip(missing.tolist(), corrupted.tolist())):
                        apps.observe(bp.trial_plan(b), Failures(tuple(m), tuple(z), eta, C),
                                     float(error[b]), bool(blocked[b]))
                predictions = _predictions(outcome.output)
                ff_pred = [fault_free_pred[i] for i in bp.input_index]
                block_labels = [""] * len(bp) if labels is None else \
                    [labels[i] for i in bp.input_index]
                lat, ll = outcome.latency, outcome.layer_latency()
                with interrupt_after():  # the block is counted and written whole, or not
                    tally.add(error, given, given_signed, lat, blocked, ll, outcome.messages,
                              beyond, predictions, ff_pred, block_labels)
                    if first == 0 and out_dir is not None:
                        save_trace(out_dir / "trace_trial0.npz", plans[0], outcome.trial(0),
                                   rule.processing)
                    if writer is not None:
                        write_rows(writer, bp, error, given, given_signed, lat, blocked,
                                   outcome.messages, predictions, ff_pred, block_labels,
                                   beyond, ll)
                        handle.flush()
                if bar is not None:
                    bar.update(len(bp))
            if interrupted is not None:
                raise interrupted
            # Let this block's arrays go before the next one is simulated (held, they
            # made a run's peak about three blocks' memory instead of two).
            plans = bp = outcome = kinds = failed = None
            first = trials.stop
            if block is None:  # about BLOCK_SECONDS per block, within memory
                per_trial = (time.perf_counter() - t0) / len(trials)
                size = max(1, min(cap, int(BLOCK_SECONDS / max(per_trial, 1e-9))))
    finally:
        elapsed = time.perf_counter() - started
        if bar is not None:
            bar.close()
        if handle is not None:
            handle.close()
        summary = summarize(setup, engine, tally, checks, elapsed)
        summary.update(apps.keys())
        if out_dir is not None:
            # In one step: a failure while writing leaves the previous summary whole.
            atomic.write_text(out_dir / "summary.json",
                              strict_json.dumps(summary, indent=2) + "\n")
    return summary


@contextmanager
def interrupt_after() -> Iterator[None]:
    """Hold a Ctrl-C (SIGINT) or a SIGTERM that lands inside the block until its end.

    A block's trials go to the summary's tally and to trials.csv in two steps; a
    KeyboardInterrupt between them left a summary counting trials that trials.csv
    never got. Here the handler in place is called once the block is done. Only the
    main thread can set a signal handler: elsewhere (a sweep worker) nothing changes;
    a signal ignored or left to its default (the process ends at once) is not held.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: dict[int, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            previous = signal.getsignal(signum)
        except ValueError:  # no signal support here
            continue
        if callable(previous):
            held[signum] = previous
    caught: list = []
    for signum in held:
        signal.signal(signum, lambda signum, frame: caught.append((signum, frame)))
    try:
        yield
    finally:
        for signum, previous in held.items():
            signal.signal(signum, previous)
    if caught:
        signum, frame = caught[0]
        held[signum](signum, frame)


def save_trace(path: Path, plan, out, processing: float = 0.0) -> None:
    """Who fired when and what was used in one trial, for the timeline and network plots."""
    arrays = {}
    for l, t in enumerate(out.fire_time):
        arrays[f"fire_time_{l}"] = t
        arrays[f"crashed_{l}"] = plan.crashed[l]
        arrays[f"byzantine_{l}"] = plan.byzantine[l]
    for l, u in enumerate(out.used, start=1):
        arrays[f"used_{l}"] = u
        arrays[f"lost_{l}"] = plan.lost[l - 1]
        arrays[f"latency_{l}"] = plan.latency[l - 1]  # + the sender's fire time: arrivals
    arrays["processing"] = np.float64(processing)  # fire time - processing: the rule held
    # Uncompressed: the delays, most of the bytes, are random doubles that zlib shrinks by
    # a few percent, and compressing them cost 0.1 s a run on a 784-256-128-10 network.
    np.savez(path, **arrays)


def show_progress() -> bool:
    """A progress bar on a terminal, not in CI logs."""
    return sys.stderr.isatty() and not os.environ.get("CI")
