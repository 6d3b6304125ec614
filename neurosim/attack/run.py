"""`neurosim attack`: the worst case found, proven where possible, and the sound bounds.

Combines the falsifier (`search`), the exact verifier for piecewise-linear
networks (`milp`) and the bounds into one report whose keys are those of
`neurosim attack --json`:

    worst_error <= true worst case <= bound_tightest <= ... <= bound_paper

`exact` is true only when the MILP proved that no configuration of the
failure model and no input of the box gives more than `worst_error`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from neurosim.attack.faults import effective_failures, fault_model, silenced_layers
from neurosim.attack.milp import milp_supported, worst_case_milp
from neurosim.attack.milp_solve import milp_exact
from neurosim.attack.search import climb, search
from neurosim.attack.witness import (
    describe,
    engine_difference,
    engine_error,
    trial_plan,
    write_replay,
)
from neurosim.bounds.engine_gap import engine_gap, float_error_bound
from neurosim.bounds.intervals import interval_bounds
from neurosim.bounds.paper import paper_fep
from neurosim.bounds.weight_aware import weight_aware_bound
from neurosim.setup import Setup


def sound_bounds(setup: Setup) -> dict[str, float]:
    """Every sound worst-case bound neurosim computes for the scenario, and the smallest."""
    net = setup.net
    failures = effective_failures(net, setup.failures)
    iv = interval_bounds(net)
    paper = paper_fep(net, failures)
    out = {"bound_paper": paper.fep,
           "bound_weight_aware": weight_aware_bound(net, failures, local=True, intervals=iv)}
    try:  # the signed bound, where this version has it
        from neurosim.bounds.signed import signed_bound
    except ImportError:
        signed_bound = None
    if signed_bound is not None:
        out["bound_signed"] = float(signed_bound(net, failures, intervals=iv))
    out["bound_tightest"] = min(out.values())
    out["bound_paper_exact_f"] = paper.fep_exact_f  # as the paper states it; not an upper bound
    return out


def not_searched(setup: Setup) -> list[str]:
    """What of the scenario's failure model the search leaves out, one sentence each."""
    return _coverage(setup)[0]


def _coverage(setup: Setup) -> tuple[list[str], bool]:
    """The notes of `not_searched`, and whether the searched model is the scenario's own
    (else no worst case found is a proof: a run may go beyond it, or not reach it)."""
    scn, notes = setup.scenario, []
    f = scn.failures
    if any(np.atleast_1d(f.stragglers)) or any(np.atleast_1d(f.synapse_stragglers)):
        notes.append("stragglers change when signals arrive, not their values: not searched "
                     "(a quorum's skipped signals are, as missing ones)")
    if "timeout" in scn.firing.rule:
        notes.append("a timeout can leave out any number of late signals: not searched "
                     "beyond the scenario's failure counts")
    if f.crash_time is not None:
        notes.append("crash_time: crashes are searched from the start (a neuron that "
                     "crashes after firing has sent its correct value)")
    if f.crash_probability is not None or f.synapse_crash_probability is not None:
        notes.append("random failures (crash probabilities): any number can fail; searched "
                     "only up to the scenario's counts")
    silent = [l for l, s in enumerate(silenced_layers(setup.net, setup.failures), start=1) if s]
    if silent:
        notes.append(f"a neuron of layer {', '.join(map(str, silent))} can be left without any "
                     "signal: it then never fires, and is searched (and bounded) as crashed")
    if f.bits is not None:
        notes.append("bits: every weight error within the quantization's eta is searched, "
                     "not only the rounding's")
    if f.placement == "list":
        notes.append("placement = 'list': every set of the listed sizes is searched, "
                     "not only the listed one")
    # Stragglers alone change no value the search does not already cover.
    stragglers = any(np.atleast_1d(f.stragglers)) or any(np.atleast_1d(f.synapse_stragglers))
    return notes, len(notes) == int(stragglers)


def attack(setup: Setup, time_limit: float = 60.0, out_dir: Path | None = None,
           use_milp: bool = True) -> dict[str, Any]:
    """Search (and, for piecewise-linear networks, prove) the worst failure and input.

    time_limit: seconds for the whole attack (search, then the MILP with
    what is left). out_dir: where to write the replay scenario. Returns the
    report (keys of `neurosim attack --json`).
    """
    started = time.perf_counter()
    net, scn = setup.net, setup.scenario
    model = fault_model(setup)
    notes, covered = _coverage(setup)
    inputs = setup.inputs if scn.inputs.kind in ("dataset", "file", "uniform") else None
    milp_result = None
    why_not = milp_supported(net, model) if use_milp else "not asked for"
    enclosed = why_not is None and not milp_exact(net)
    # An enclosure program only bounds: the search keeps more of the time to find.
    search_budget = time_limit if why_not else (0.6 if enclosed else 0.3) * time_limit
    found = search(net, model, inputs, scn.seed, search_budget)
    method = found.method
    batch = found.batch
    if why_not is None:
        left = max(1.0, time_limit - (time.perf_counter() - started))
        d = engine_difference(net, trial_plan(net, batch))
        k = int(np.argmax(np.nan_to_num(np.abs(d), nan=-1.0)))
        milp_result = worst_case_milp(net, model, left, lower=found.error,
                                      first=(k, 1.0 if d[k] >= 0 else -1.0))
        method += f"; MILP (HiGHS): {milp_result.status} in {milp_result.elapsed_s:.1f} s"
        if enclosed:
            method += " (an upper bound: phi is enclosed between lines, not encoded)"
            notes.append("bound_milp is the optimum of a program over a piecewise-linear "
                         "enclosure of " + "/".join(sorted(set(net.activations)))
                         + ": a sound upper bound on the worst case, never exact")
        # The solver's point is feasible to its tolerance: a short climb from it lands on
        # the vertex, and the engine's error decides. An enclosure's point is only a
        # start (its value is not attained): it gets what is left of the time, if any.
        until = time.perf_counter() + 5.0
        if enclosed:
            until = min(until, started + time_limit)
        if milp_result.batch is not None and until > time.perf_counter():
            polished = climb(net, model, milp_result.batch, until, 60)
            if engine_error(net, trial_plan(net, polished)) > \
                    engine_error(net, trial_plan(net, batch)):
                batch = polished
                method += "; the worst case is the MILP's argmax"
    elif use_milp:
        notes.append(f"no MILP: {why_not}")
    plan = trial_plan(net, batch)
    worst = engine_error(net, plan)
    report: dict[str, Any] = {"scenario": scn.name, "source": scn.source,
                              "failure_model": model.describe(), "worst_error": worst}
    report.update(sound_bounds(setup))
    exact = False
    if milp_result is not None:
        # A proven upper bound on the worst case (to HiGHS's tolerances), even when
        # the time ran out before every output was solved. The program is in real
        # arithmetic: the engine's rounding of both runs is added (`engine_gap`).
        # HiGHS's tolerances are absolute: the optimum it proves can sit below an attained
        # error by about them (1.3e-6 of 0.71 on a network whose first layer varies by
        # 1e-6 of the next one's bias), so the bound carries their reach (`milp_scale`).
        gap = engine_gap(net, effective_failures(net, setup.failures))
        upper = float_error_bound(milp_result.upper + milp_result.slack, gap)
        optimum = float_error_bound(milp_result.upper, gap)
        report["bound_milp"] = upper if np.isfinite(upper) else None
        report["milp_status"] = milp_result.status
        report["milp_kind"] = "enclosure" if enclosed else "exact"
        # Relative only: an absolute slack (it was 1e-9) proved anything on a network whose
        # errors are below it (output weights of 1e-12: "exact" at 0.79 of the worst case).
        exact = milp_result.proven and not enclosed and worst >= optimum * (1 - 1e-6)
        if milp_result.proven and not exact and not enclosed:
            notes.append("the MILP's optimum and the replayed error differ by more than "
                         "its tolerance")
        if report["bound_milp"] is not None:
            report["bound_tightest"] = min(report["bound_tightest"], upper)
    # A sound bound that the found error attains proves it the worst case, MILP or not.
    exact = exact or worst >= report["bound_tightest"] * (1 - 1e-12)
    # Only for the scenario's own failure model: with random failures, a timeout, late
    # crashes, quantized weights or a listed set, the model searched is another one.
    report["exact"] = bool(exact and covered)
    # No error found (nothing can fail): no ratio, and JSON has no infinity.
    report["gap"] = report["bound_tightest"] / worst if worst > 0 else None
    report["witness"] = describe(net, plan, batch)
    report["method"] = method
    report["sets_searched"] = found.sets_searched
    if out_dir is not None:
        report["replay_scenario"] = str(write_replay(out_dir, scn.name, net, plan, model))
    report["notes"] = notes
    report["elapsed_s"] = time.perf_counter() - started
    if not np.isfinite(worst):
        report["notes"].append("the witness blocks in the engine (a receiver gets no signal)")
    return report
