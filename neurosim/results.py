"""A run's result files, a block of trials at a time: trials.csv rows and summary.json.

The summary is accumulated block by block without keeping the rows.

Counts, sums and maxima are kept as numbers. The statistics that need every
value (means, the median and p99 of the latency, the per-layer latency means)
keep one float64 array each, of the finished trials' errors, latencies and
per-layer latencies: 8 bytes per trial each, about 40 MB per million trials
on a 3-layer network, so the summary is exact (the same bits as computing it
from a list of every row) and stays small next to the run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # types only: the runner imports this module
    from neurosim.runner import Checks
    from neurosim.setup import Setup

Array = np.ndarray


class Tally:
    """The running totals of a run's finished trials (`add` one block at a time)."""

    def __init__(self, n_layers: int, labelled: bool) -> None:
        self.n_layers, self.labelled = n_layers, labelled
        self.trials = self.blocked = self.beyond = 0
        self.correct = self.fault_free_correct = self.agree = 0
        self.messages = dict.fromkeys(("sent", "received", "lost", "in_flight", "used",
                                       "wasted"), 0)
        self.given_max: float | None = None
        self.given_signed_max: float | None = None
        self._errors: list[Array] = []
        self._latency: list[Array] = []
        self._layer_latency: list[Array] = []

    def add(self, error: Array, given: Array, given_signed: Array, latency: Array,
            blocked: Array, layer_latency: Array, messages: dict[str, Array], beyond: Array,
            predictions: list, fault_free_predictions: list, labels: list) -> None:
        """One block of B finished trials, arrays of shape (B,) (layer_latency (B, L+1)).

        error, latency: NaN / any value for blocked trials (only the others count).
        predictions, fault_free_predictions, labels: the trials.csv values (int or "").
        """
        done = ~blocked
        self.trials += len(blocked)
        self.blocked += int(blocked.sum())
        self.beyond += int(beyond.sum())
        for k in self.messages:
            self.messages[k] += int(messages[k].sum())
        if done.any():
            g, gs = float(given[done].max()), float(given_signed[done].max())
            self.given_max = g if self.given_max is None else max(self.given_max, g)
            self.given_signed_max = gs if self.given_signed_max is None else \
                max(self.given_signed_max, gs)
        self._errors.append(error[done])
        self._latency.append(np.asarray(latency, dtype=float)[done])
        self._layer_latency.append(layer_latency)
        if self.labelled:
            self.correct += sum(p == y for p, y in zip(predictions, labels))
            self.fault_free_correct += sum(p == y for p, y in zip(fault_free_predictions,
                                                                   labels))
        self.agree += sum(p == q for p, q in zip(predictions, fault_free_predictions))

    def statistics(self) -> dict[str, Any]:
        """The summary.json entries computed from the trials."""
        errors = np.concatenate(self._errors) if self._errors else np.empty(0)
        lat = np.concatenate(self._latency) if self._latency else np.empty(0)
        ll = (np.concatenate(self._layer_latency) if self._layer_latency
              else np.empty((0, self.n_layers)))

        def stat(a: Array, f) -> float | None:
            return float(f(a)) if len(a) else None

        n = self.trials
        out: dict[str, Any] = {
            "bound_given_set_max": self.given_max,
            "bound_given_set_signed_max": self.given_signed_max,
            "max_error": stat(errors, np.max), "mean_error": stat(errors, np.mean),
            "latency_mean": stat(lat, np.mean), "latency_p50": stat(lat, np.median),
            "latency_p99": stat(lat, lambda a: np.percentile(a, 99)),
            "layer_latency_mean": [None if np.all(np.isnan(c)) else float(np.nanmean(c))
                                   for c in ll.T] if n else [],
            "blocked_trials": self.blocked,
            # Trials checked against the bounds for their own, larger counts (timeouts).
            "trials_beyond_counts": self.beyond,
        }
        for k, v in self.messages.items():
            out[f"messages_{k}"] = v
        if self.labelled and n:
            out["accuracy"] = self.correct / n
            out["fault_free_accuracy"] = self.fault_free_correct / n
        if n:
            # Agreement with the fault-free prediction needs no labels (blocked trials
            # disagree).
            out["agreement"] = self.agree / n
        return out


def summarize(setup: Setup, engine: str, tally: Tally, checks: Checks,
              elapsed: float) -> dict[str, Any]:
    """The summary.json of a run, from its finished trials' totals and checks."""
    from neurosim import __version__

    scn = setup.scenario
    stats = tally.statistics()
    summary: dict[str, Any] = {
        "scenario": scn.name, "source": scn.source, "seed": scn.seed, "trials": tally.trials,
        "trials_requested": scn.trials, "engine": engine, "version": __version__,
        "bound_paper": checks.declared.paper,
        "bound_paper_exact_f": checks.declared.paper_exact_f,
        "bound_weight_aware_global_k": checks.declared.weight_aware_global,
        "bound_weight_aware": checks.declared.weight_aware,
        "bound_signed": checks.declared.signed,
        "bound_tightest": checks.declared.tightest,
        "bound_given_set_max": stats.pop("bound_given_set_max"),
        "bound_given_set_signed_max": stats.pop("bound_given_set_signed_max"),
        "certificate_epsilon": checks.certificate,
        "quorum": setup.quorum,
        "quorum_plan": setup.quorum_plan,
        "missing_per_layer": list(setup.failures.missing),
        "corrupted_per_layer": list(setup.failures.corrupted),
        "max_error": stats.pop("max_error"), "mean_error": stats.pop("mean_error"),
        "violations": len(checks.violations),
        "violation_details": [v.describe(setup) for v in checks.violations[:20]],
    }
    summary.update(stats)
    summary["elapsed_s"] = elapsed
    return summary


def write_rows(writer, bp, error, given, given_signed, latency, blocked, messages,
               predictions, ff_pred, labels, beyond, layer_latency) -> None:
    """A block's rows of trials.csv (columns as `neurosim.runner.FIELDS`, then the layer
    latencies): arrays (B,) or (B, L+1), lists of B values; NaN as an empty cell, floats
    as their repr (as csv writes a float)."""

    def cells(a: np.ndarray) -> list:
        return ["" if v != v else v for v in a.tolist()]  # v != v: NaN

    # A blocked trial has no output: no error, latency or given-set bound (its receivers
    # that never fired counted no missing signal, so the bound computed for it means nothing).
    columns = [bp.trials.tolist(), bp.input_index.tolist(), cells(error),
               cells(np.where(blocked, np.nan, given)),
               cells(np.where(blocked, np.nan, given_signed)),
               cells(np.where(blocked, np.nan, latency)),
               blocked.astype(int).tolist(),
               *(messages[k].tolist() for k in ("sent", "received", "lost", "used", "wasted")),
               predictions, ff_pred, labels, beyond.astype(int).tolist(),
               *(cells(c) for c in layer_latency.T)]
    writer.writerows(zip(*columns, strict=True))
