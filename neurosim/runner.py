"""`neurosim run`: simulate a scenario's trials, check every bound, write the results.

Life cycle (as desmod's simulate): build (Setup, bounds) -> run the trials
-> collect (summary). Each trial's row is appended to trials.csv and flushed
as soon as it is done, so an interrupted run keeps every finished trial.

Every trial checks

    measured error <= given-set bound <= weight-aware <= paper Fep
    measured error <= given-set signed <= signed <= weight-aware (and <= given-set)

and with quorum = "auto" the certificate measured error <= epsilon. The
worst-case bounds hold for *at most* the scenario's counts; a trial whose
receivers missed or got corrupted more signals than that (a timeout fired
early) is checked against the bounds for its own counts. The measured error
is compared with no tolerance (the bounds hold for float64); bounds with one
another to within their evaluation rounding (`bounds_ordered`). A NaN error
or bound is a violation too. A violation is a bug: it is recorded with the
scenario, seed and trial that reproduce it, and `run` exits 1.
"""

from __future__ import annotations

import csv
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neurosim.applications import Applications
from neurosim.bounds.intervals import Intervals, interval_bounds
from neurosim.bounds.paper import paper_fep
from neurosim.bounds.rounding import bounds_ordered
from neurosim.bounds.signed import given_set_signed_bound, signed_bound
from neurosim.bounds.weight_aware import given_set_bound, weight_aware_bound
from neurosim.data import strict_json
from neurosim.data.counts import Failures
from neurosim.data.signals import CORRUPTED, MISSING
from neurosim.engines.des import simulate_des
from neurosim.engines.fast import simulate_fast
from neurosim.engines.plan import FiringRule, Planner
from neurosim.setup import Setup

ENGINES = {"des": simulate_des, "fast": simulate_fast}

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

    def chain(self) -> list[tuple[str, float, float]]:
        return [("signed bound above the weight-aware", self.signed, self.weight_aware),
                ("weight-aware (local K) above weight-aware (global K)", self.weight_aware,
                 self.weight_aware_global),
                ("weight-aware bound above the paper's Fep", self.weight_aware_global,
                 self.paper)]


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
                        lambda a, b: a <= b)
            if given_signed is not None:
                self._check(trial, "given-set signed bound above the signed", given_signed,
                            bounds.signed, bounds_ordered)
                self._check(trial, "given-set signed bound above the given-set", given_signed,
                            given, bounds_ordered)
                self._check(trial, "measured error above the given-set signed bound", error,
                            given_signed, lambda a, b: a <= b)
            if self.certificate is not None:
                self._check(trial, "certificate (epsilon) broken", error, self.certificate,
                            lambda a, b: a <= b)
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


def realised_counts(kinds: list[np.ndarray], fire_time: list[np.ndarray],
                    failures: Failures) -> Failures:
    """The most missing / corrupted signals any receiver that fired used, per layer."""
    missing, corrupted = [], []
    for kind, t in zip(kinds, fire_time[1:], strict=True):
        k = kind[np.isfinite(t)]
        missing.append(int((k == MISSING).sum(1).max(initial=0)))
        corrupted.append(int((k == CORRUPTED).sum(1).max(initial=0)))
    return Failures(tuple(missing), tuple(corrupted), failures.eta, failures.capacity)


def run_trials(setup: Setup, engine: str = "des", out_dir: Path | None = None,
               progress: bool = False) -> dict[str, Any]:
    """Simulate every trial of `setup`; write trials.csv and summary.json to `out_dir`."""
    scn, net = setup.scenario, setup.net
    simulate = ENGINES[engine]
    rule = FiringRule.from_scenario(scn, setup.quorum)
    planner = Planner(scn, net, setup.inputs)
    iv = interval_bounds(net)
    checks = scenario_checks(setup, iv)
    fault_free = net.forward(setup.inputs)
    eta, C = setup.failures.eta, setup.failures.capacity
    apps = Applications(setup)

    rows: list[dict[str, Any]] = []
    layer_latency: list[list[float]] = []
    writer = handle = None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        handle = open(out_dir / "trials.csv", "w", newline="")
        writer = csv.DictWriter(handle, fieldnames=FIELDS + [
            f"layer_latency_{l}" for l in range(1, net.depth + 2)])
        writer.writeheader()
    trials = range(scn.trials)
    if progress:
        from tqdm import tqdm

        trials = tqdm(trials, desc=scn.name, unit="trial")
    started = time.perf_counter()
    try:
        for i in trials:
            plan = planner.plan(i)
            out = simulate(net, plan, rule)
            kinds = out.signal_kinds(plan)
            given = given_set_bound(net, kinds, eta, C, intervals=iv)
            given_signed = given_set_signed_bound(net, kinds, eta, C, intervals=iv)
            blocked = out.blocked
            ff = fault_free[plan.input_index]
            error = float("nan") if blocked else float(np.abs(out.output - ff).max())
            counts = realised_counts(kinds, out.fire_time, setup.failures)
            beyond = checks.trial(i, error, given, blocked, counts, given_signed)
            apps.observe(plan, counts, error, blocked)
            label = "" if setup.labels is None else int(setup.labels[plan.input_index])
            lat = out.layer_latency()
            row = dict(trial=i, input_index=plan.input_index, error=error,
                       bound_given_set=given, bound_given_set_signed=given_signed,
                       latency=out.latency if not blocked else "",
                       blocked=int(blocked), prediction=_prediction(out.output),
                       fault_free_prediction=_prediction(ff), label=label,
                       beyond_counts=int(beyond),
                       **{f"messages_{k}": v for k, v in out.messages.items()
                          if k != "in_flight"})
            row.update({f"layer_latency_{l}": v for l, v in enumerate(lat, start=1)})
            rows.append(row)
            layer_latency.append(lat)
            if i == 0 and out_dir is not None:
                save_trace(out_dir / "trace_trial0.npz", plan, out)
            if writer is not None:
                writer.writerow({k: ("" if isinstance(v, float) and np.isnan(v) else v)
                                 for k, v in row.items()})
                handle.flush()
    finally:
        elapsed = time.perf_counter() - started
        if handle is not None:
            handle.close()
        summary = summarize(setup, engine, rows, layer_latency, checks, elapsed)
        summary.update(apps.keys())
        if out_dir is not None:
            (out_dir / "summary.json").write_text(strict_json.dumps(summary, indent=2) + "\n")
    return summary


def save_trace(path: Path, plan, out) -> None:
    """Who fired when and what was used in one trial, for the timeline and network plots."""
    arrays = {}
    for l, t in enumerate(out.fire_time):
        arrays[f"fire_time_{l}"] = t
        arrays[f"crashed_{l}"] = plan.crashed[l]
        arrays[f"byzantine_{l}"] = plan.byzantine[l]
    for l, u in enumerate(out.used, start=1):
        arrays[f"used_{l}"] = u
        arrays[f"lost_{l}"] = plan.lost[l - 1]
    np.savez_compressed(path, **arrays)


def summarize(setup: Setup, engine: str, rows: list[dict[str, Any]],
              layer_latency: list[list[float]], checks: Checks,
              elapsed: float) -> dict[str, Any]:
    """The summary.json of INTERFACE 4 from the finished trials' rows."""
    from neurosim import __version__

    scn = setup.scenario
    done = [r for r in rows if not r["blocked"]]
    errors = np.array([r["error"] for r in done])
    lat = np.array([r["latency"] for r in done], dtype=float)
    ll = np.array(layer_latency, dtype=float).reshape(len(rows), -1)

    def stat(a: np.ndarray, f) -> float | None:
        return float(f(a)) if len(a) else None

    summary: dict[str, Any] = {
        "scenario": scn.name, "source": scn.source, "seed": scn.seed, "trials": len(rows),
        "trials_requested": scn.trials, "engine": engine, "version": __version__,
        "bound_paper": checks.declared.paper,
        "bound_paper_exact_f": checks.declared.paper_exact_f,
        "bound_weight_aware_global_k": checks.declared.weight_aware_global,
        "bound_weight_aware": checks.declared.weight_aware,
        "bound_signed": checks.declared.signed,
        "bound_given_set_max": stat(np.array([r["bound_given_set"] for r in done]), np.max),
        "bound_given_set_signed_max": stat(
            np.array([r["bound_given_set_signed"] for r in done]), np.max),
        "certificate_epsilon": checks.certificate,
        "quorum": setup.quorum,
        "quorum_plan": setup.quorum_plan,
        "missing_per_layer": list(setup.failures.missing),
        "corrupted_per_layer": list(setup.failures.corrupted),
        "max_error": stat(errors, np.max), "mean_error": stat(errors, np.mean),
        "violations": len(checks.violations),
        "violation_details": [v.describe(setup) for v in checks.violations[:20]],
        "latency_mean": stat(lat, np.mean), "latency_p50": stat(lat, np.median),
        "latency_p99": stat(lat, lambda a: np.percentile(a, 99)),
        "layer_latency_mean": [None if np.all(np.isnan(c)) else float(np.nanmean(c))
                               for c in ll.T] if len(rows) else [],
        "blocked_trials": len(rows) - len(done),
        # Trials checked against the bounds for their own, larger counts (timeouts).
        "trials_beyond_counts": sum(r["beyond_counts"] for r in rows),
    }
    for k in ("sent", "received", "lost", "used", "wasted"):
        summary[f"messages_{k}"] = int(sum(r[f"messages_{k}"] for r in rows))
    if setup.labels is not None and rows:
        summary["accuracy"] = float(np.mean([r["prediction"] == r["label"] for r in rows]))
        summary["fault_free_accuracy"] = float(np.mean(
            [r["fault_free_prediction"] == r["label"] for r in rows]))
    if rows:
        # Agreement with the fault-free prediction needs no labels (blocked trials disagree).
        summary["agreement"] = float(np.mean(
            [r["prediction"] == r["fault_free_prediction"] for r in rows]))
    summary["elapsed_s"] = elapsed
    return summary


def show_progress() -> bool:
    """A progress bar on a terminal, not in CI logs."""
    return sys.stderr.isatty() and not os.environ.get("CI")
