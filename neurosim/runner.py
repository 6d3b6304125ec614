"""`neurosim run`: simulate a scenario's trials, check every bound, write the results.

Life cycle (as desmod's simulate): build (Setup, bounds) -> run the trials
-> collect (summary). Each trial's row is appended to trials.csv and flushed
as soon as it is done, so an interrupted run keeps every finished trial.

Every trial checks (SPEC 4)

    measured error <= given-set bound <= weight-aware <= paper Fep

(the middle step when the trial's failed signals are the counts the
worst-case bounds assume), and with quorum = "auto" the certificate
measured error <= epsilon. A violation is a bug: it is recorded with the
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

from neurosim.bounds.intervals import Intervals, interval_bounds
from neurosim.bounds.paper import paper_fep
from neurosim.bounds.weight_aware import CORRUPTED, MISSING, given_set_bound, weight_aware_bound
from neurosim.data import strict_json
from neurosim.engines.des import simulate_des
from neurosim.engines.fast import simulate_fast
from neurosim.engines.plan import FiringRule, Planner
from neurosim.setup import Setup

ENGINES = {"des": simulate_des, "fast": simulate_fast}

# Bounds are computed in floating point: allow rounding, nothing more.
RTOL, ATOL = 1e-9, 1e-12

FIELDS = ["trial", "input_index", "error", "bound_given_set", "latency", "blocked",
          "messages_sent", "messages_received", "messages_lost", "messages_used",
          "messages_wasted", "prediction", "fault_free_prediction", "label", "counts_as_assumed"]


def exceeds(value: float, bound: float) -> bool:
    return value > bound * (1 + RTOL) + ATOL


@dataclass
class Violation:
    trial: int
    what: str
    measured: float
    bound: float

    def describe(self, setup: Setup) -> str:
        scn = setup.scenario
        return (f"{self.what}: {self.measured:.17g} > {self.bound:.17g} in scenario "
                f"{scn.source} (seed {scn.seed}, trial {self.trial}); reproduce with "
                f"`neurosim run {scn.source} --seed {scn.seed} --trials {self.trial + 1}`")


@dataclass
class Bounds:
    """The scenario-level bounds every trial is checked against."""

    paper: float
    weight_aware_global: float
    weight_aware: float
    certificate: float | None = None
    violations: list[Violation] = field(default_factory=list)


    def check_trial(self, trial: int, error: float, given: float, blocked: bool,
                    as_assumed: bool) -> None:
        """Record every broken link of the chain for one trial (SPEC 4, 6).

        measured <= given-set always (unless blocked: no output); given-set <=
        weight-aware when the trial's failed signals are the assumed counts;
        measured <= epsilon under a certified quorum.
        """
        checks = [(not blocked, "measured error above the given-set bound", error, given),
                  (as_assumed, "given-set bound above the weight-aware", given,
                   self.weight_aware),
                  (self.certificate is not None and not blocked,
                   "certificate (epsilon) broken", error, self.certificate)]
        for applies, what, value, bound in checks:
            if applies and exceeds(value, bound):
                self.violations.append(Violation(trial, what, value, bound))


def scenario_bounds(setup: Setup, iv: Intervals) -> Bounds:
    net, failures = setup.net, setup.failures
    b = Bounds(paper_fep(net, failures).fep,
               weight_aware_bound(net, failures, local=False, intervals=iv),
               weight_aware_bound(net, failures, local=True, intervals=iv))
    if setup.quorum_plan is not None and setup.quorum_plan["certified"]:
        b.certificate = setup.quorum_plan["budget"]
    for what, lo, hi in (("weight-aware (local K) above weight-aware (global K)",
                          b.weight_aware, b.weight_aware_global),
                         ("weight-aware bound above the paper's Fep", b.weight_aware_global,
                          b.paper)):
        if exceeds(lo, hi):
            b.violations.append(Violation(-1, what, lo, hi))
    return b


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


def counts_as_assumed(kinds: list[np.ndarray], fire_time: list[np.ndarray], setup: Setup) -> bool:
    """Did every receiver that fired miss / get corrupted exactly the assumed counts?"""
    f = setup.failures
    for l, (kind, t) in enumerate(zip(kinds, fire_time[1:], strict=True), start=1):
        k = kind[np.isfinite(t)]
        if np.any((k == MISSING).sum(1) != f.missing[l - 1]) or \
                np.any((k == CORRUPTED).sum(1) != f.corrupted[l - 1]):
            return False
    return True


def run_trials(setup: Setup, engine: str = "des", out_dir: Path | None = None,
               progress: bool = False) -> dict[str, Any]:
    """Simulate every trial of `setup`; write trials.csv and summary.json to `out_dir`."""
    scn, net = setup.scenario, setup.net
    simulate = ENGINES[engine]
    rule = FiringRule.from_scenario(scn, setup.quorum)
    planner = Planner(scn, net, setup.inputs)
    iv = interval_bounds(net)
    bounds = scenario_bounds(setup, iv)
    fault_free = net.forward(setup.inputs)
    eta, C = setup.failures.eta, setup.failures.capacity

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
            blocked = out.blocked
            as_assumed = not blocked and counts_as_assumed(kinds, out.fire_time, setup)
            ff = fault_free[plan.input_index]
            error = float("nan") if blocked else float(np.abs(out.output - ff).max())
            bounds.check_trial(i, error, given, blocked, as_assumed)
            label = "" if setup.labels is None else int(setup.labels[plan.input_index])
            lat = out.layer_latency()
            row = dict(trial=i, input_index=plan.input_index, error=error,
                       bound_given_set=given, latency=out.latency if not blocked else "",
                       blocked=int(blocked), prediction=_prediction(out.output),
                       fault_free_prediction=_prediction(ff), label=label,
                       counts_as_assumed=int(as_assumed),
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
        summary = summarize(setup, engine, rows, layer_latency, bounds, elapsed)
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
              layer_latency: list[list[float]], bounds: Bounds, elapsed: float) -> dict[str, Any]:
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
        "bound_paper": bounds.paper,
        "bound_weight_aware_global_k": bounds.weight_aware_global,
        "bound_weight_aware": bounds.weight_aware,
        "bound_given_set_max": stat(np.array([r["bound_given_set"] for r in done]), np.max),
        "certificate_epsilon": bounds.certificate,
        "quorum": setup.quorum,
        "quorum_plan": setup.quorum_plan,
        "missing_per_layer": list(setup.failures.missing),
        "corrupted_per_layer": list(setup.failures.corrupted),
        "max_error": stat(errors, np.max), "mean_error": stat(errors, np.mean),
        "violations": len(bounds.violations),
        "violation_details": [v.describe(setup) for v in bounds.violations[:20]],
        "latency_mean": stat(lat, np.mean), "latency_p50": stat(lat, np.median),
        "latency_p99": stat(lat, lambda a: np.percentile(a, 99)),
        "layer_latency_mean": [None if np.all(np.isnan(c)) else float(np.nanmean(c))
                               for c in ll.T] if len(rows) else [],
        "blocked_trials": len(rows) - len(done),
        "trials_as_assumed": sum(r["counts_as_assumed"] for r in rows),
    }
    for k in ("sent", "received", "lost", "used", "wasted"):
        summary[f"messages_{k}"] = int(sum(r[f"messages_{k}"] for r in rows))
    if setup.labels is not None and rows:
        summary["accuracy"] = float(np.mean([r["prediction"] == r["label"] for r in rows]))
        summary["fault_free_accuracy"] = float(np.mean(
            [r["fault_free_prediction"] == r["label"] for r in rows]))
    if setup.net.sizes[-1] >= 2 and rows:
        # Agreement with the fault-free argmax needs no labels (blocked trials disagree).
        summary["agreement"] = float(np.mean(
            [r["prediction"] == r["fault_free_prediction"] for r in rows]))
    summary["elapsed_s"] = elapsed
    return summary


def show_progress() -> bool:
    """A progress bar on a terminal, not in CI logs."""
    return sys.stderr.isatty() and not os.environ.get("CI")
