"""Solving the worst-case program built by `neurosim.attack.milp`: one program per
output and sign (or per failed set, output and sign), pruned by sound bounds, the
best solution back as a Batch, and the proven upper bound."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, milp

from neurosim.attack import enclosure
from neurosim.attack.faults import Batch, make_batch
from neurosim.data.network import Network

Array = np.ndarray

PIECEWISE_LINEAR = ("relu", "identity", "hard_sigmoid")
GAP = 1e-7  # relative MIP gap at which HiGHS stops
MAX_SETS = 2_000  # up to this many failed-neuron sets, one program per set
# With sigmoid/tanh each set's program is linear (and most are ruled out by their
# given-set bound before any is solved): many more sets are worth it.
MAX_SETS_ENCLOSED = 50_000


def milp_exact(net: Network) -> bool:
    """True when the program encodes phi exactly (piecewise linear), False when it encloses
    it (sigmoid, tanh: its optimum is only an upper bound)."""
    return set(net.activations) <= set(PIECEWISE_LINEAR)


@dataclass
class MilpResult:
    """upper: proven upper bound on the worst error (for an output whose program did not
    finish, its weight-aware deviation bound).
    proven: every MILP solved or proved infeasible. batch: the best solution found
    (one element), or None. status: a short account."""

    upper: float
    proven: bool
    batch: Batch | None
    value: float
    status: str
    elapsed_s: float
    enclosure: bool = False  # phi enclosed, not encoded: upper is a bound, value not attained
    # How far HiGHS's absolute tolerances could have moved upper (`milp_scale`): upper +
    # slack is the bound to report; upper alone is what a found error is compared with.
    slack: float = 0.0


def _objective(out_terms, k: int, s: float, n: int) -> tuple[dict[int, float], float, Array]:
    """s * (F'_k - F_k) as (terms, constant) and as the cost vector milp minimises."""
    st, sc, ft, fc = out_terms[k]
    obj: dict[int, float] = {}
    for v, c in ft.items():
        obj[v] = obj.get(v, 0.0) + s * c
    for v, c in st.items():
        obj[v] = obj.get(v, 0.0) - s * c
    cvec = np.zeros(n)
    for v, c in obj.items():
        cvec[v] = -c
    return obj, s * (fc - sc), cvec


def _cost_scale(cvec: Array) -> float:
    """A power of 2 that brings the largest cost to [0.5, 1) (1 for a zero or non-finite
    cost vector)."""
    top = float(np.max(np.abs(cvec), initial=0.0))
    if not 0.0 < top < np.inf:
        return 1.0
    return float(2.0 ** -(np.frexp(top)[1]))


def _set_jobs(net, model, fail_neuron, iv, lower, deadline=np.inf):
    """With few failed-neuron sets and no synapse-level failure: one program per set,
    output and sign whose given-set bound exceeds `lower`, largest bound first, each
    with the set's binaries fixed (a much tighter relaxation than free binaries).
    None also when the sets' bounds are not all computed by `deadline` (perf_counter):
    the free-binaries programs then get the time."""
    from neurosim.attack.search import count_sets, layer_options
    from neurosim.bounds.weight_aware import MISSING, given_set_layers

    limit = MAX_SETS if milp_exact(net) else MAX_SETS_ENCLOSED
    if model.synapse_level or any(model.byzantine) or count_sets(net, model) > limit:
        return None
    jobs = []
    for sets in itertools.product(*[layer_options(net.sizes[l], model.crash[l - 1], 0)
                                    for l in range(1, net.depth + 1)]):
        signals, fix = [None], {}
        for l, (crashed, _) in enumerate(sets, start=1):
            kind = np.zeros((net.sizes[l + 1], net.sizes[l]), dtype=np.int8)
            kind[:, list(crashed)] = MISSING
            signals.append(kind)
            for i, v in enumerate(fail_neuron[l + 1].get("crash", [])):
                fix[v] = 1.0 if i in crashed else 0.0
        if time.perf_counter() > deadline:
            return None
        bound = given_set_layers(net, signals, intervals=iv)[-1]
        for k in range(net.sizes[-1]):
            if bound[k] > lower:
                jobs += [(float(bound[k]), fix, k, 1.0), (float(bound[k]), fix, k, -1.0)]
    jobs.sort(key=lambda j: -j[0])
    return jobs


def solve_outputs(net, model, p, x, fail_neuron, synapse_vars, out_terms, time_limit, lower,
                  started, dev_out, first, iv) -> MilpResult:
    """Every (output, sign) program, or (set, output, sign) where there are few sets: the
    largest proven bound and the best solution (see `neurosim.attack.milp`)."""
    n = len(p.lo)
    lo0, hi0 = np.array(p.lo), np.array(p.hi)
    integrality = np.array(p.integer)
    best_val, best_sol, upper, proven, statuses = lower, None, lower, True, []
    per_set = _set_jobs(net, model, fail_neuron, iv, lower,
                        started + 0.5 * time_limit)
    A = p.matrix()
    if per_set is None:
        jobs = []
        for k in range(len(out_terms)):
            for s in (1.0, -1.0):
                # The linear relaxation's bound (binaries free in [0, 1]) holds for the
                # program: it often beats the deviation bound, and orders the jobs.
                _, const, cvec = _objective(out_terms, k, s, n)
                # At most a quarter of what is left, shared: the programs need the rest.
                share = 0.25 * (time_limit - (time.perf_counter() - started)) / (2 * len(out_terms))
                low = enclosure.safe_min(cvec, A, lo0, hi0, share)[0] if share > 0.1 else None
                lp = np.inf if low is None else -low + const
                jobs.append((float(min(dev_out[k], lp)), {}, k, s))
        jobs.sort(key=lambda j: ((j[2], j[3]) != first, -j[0]))
    else:
        jobs = per_set
    enclosed = not milp_exact(net)
    if enclosed and per_set is not None:
        return _enclosed_sets(net, model, p, x, fail_neuron, synapse_vars, out_terms, jobs, A,
                              time_limit, lower, started)
    for n_job, (bound, fix, k, s) in enumerate(jobs):
        tag = f"out {k}{'+' if s > 0 else '-'}"
        if bound <= best_val:  # a sound bound rules it out
            statuses.append(f"{tag}: below")
            continue
        obj, const, cvec = _objective(out_terms, k, s, n)
        # HiGHS's tolerances are absolute (reduced costs 1e-7, MIP gap 1e-6): with output
        # weights of 1e-12 every cost was below them, any vertex passed for optimal and
        # the dual bound fell below errors the engine attains. Costs scaled to about 1 (a
        # power of 2: exact), results scaled back.
        sc = _cost_scale(cvec)
        lo, hi = _fixed(lo0, hi0, fix)
        left = time_limit - (time.perf_counter() - started)
        if left <= 0:
            # Not run: its sound bound stands in.
            proven, upper = False, max(upper, bound)
            statuses.append(f"{tag}: not run (time)")
            continue
        if fix:  # the relaxation first: most sets cannot beat what is found
            lp = milp(cvec * sc, constraints=A, bounds=Bounds(lo, hi),
                      options={"time_limit": max(1.0, left), "disp": False})
            if lp.status == 0 and -lp.fun / sc + const <= best_val:
                statuses.append(f"{tag}: below")
                continue
        # Per set, the jobs come largest bound first: the first ones decide the upper bound,
        # so they get the time; the ones left unrun keep their (smaller) bounds.
        share = left if fix else left / (len(jobs) - n_job)
        cut = [({v: c * sc for v, c in obj.items()}, (best_val - const) * sc, np.inf)]
        res = milp(cvec * sc, constraints=p.matrix(cut), integrality=integrality,
                   bounds=Bounds(lo, hi),
                   options={"time_limit": max(share, 0.5), "mip_rel_gap": GAP, "disp": False})
        if res.status == 2:  # infeasible: this job cannot beat best_val
            statuses.append(f"{tag}: below")
            continue
        dual = getattr(res, "mip_dual_bound", None)
        # scipy reports no dual bound when the time ran out before a solution above the
        # cut was found: the job's sound bound stands in.
        ub = (-dual / sc + const) if dual is not None and np.isfinite(dual) else bound
        if enclosed:  # a relaxation's bound: good to the solver's tolerance, so inflated
            ub += enclosure.SOLVER_SLACK * (1.0 + abs(ub))
        ub = min(ub, bound)
        if res.status == 0:
            statuses.append(f"{tag}: optimal")
        else:
            proven = False
            statuses.append(f"{tag}: {res.message.split('.')[0]}")
        upper = max(upper, ub)
        if res.x is not None:
            val = -res.fun / sc + const
            if val > best_val:
                best_val, best_sol = val, (res.x.copy(), k, s)
    batch = None
    if best_sol is not None:
        batch = _to_batch(net, model, best_sol, x, fail_neuron, synapse_vars)
    done = sum(1 for t in statuses if t.endswith(("optimal", "below")))
    what = "programs (set, output, sign)" if per_set is not None else "output-sign programs"
    status = f"{done} of {len(jobs)} {what} solved or ruled out"
    if enclosed:
        status += f" over an enclosure of {'/'.join(sorted(set(net.activations)))}"
    return MilpResult(float(upper), proven, batch, float(best_val), status,
                      time.perf_counter() - started, enclosure=enclosed)


def _enclosed_sets(net, model, p, x, fail_neuron, synapse_vars, out_terms, jobs, A, time_limit,
                   lower, started) -> MilpResult:
    """Sigmoid/tanh with few failed sets: with a set's binaries fixed the enclosure program
    is linear, and `safe_min` bounds it whatever the solver's tolerances. The answer is
    the largest bound over the jobs; a job whose given-set bound is below the largest so
    far cannot raise it and is skipped (jobs come largest bound first)."""
    n = len(p.lo)
    lo0, hi0 = np.array(p.lo), np.array(p.hi)
    upper, best_sol, proven, done = lower, None, True, 0
    for bound, fix, k, s in jobs:
        if bound <= upper:
            done += 1
            continue
        if time.perf_counter() - started >= time_limit:
            # Not run: its given-set bound stands in (the largest left: jobs are sorted).
            proven, upper = False, max(upper, bound)
            break
        _, const, cvec = _objective(out_terms, k, s, n)
        lo, hi = _fixed(lo0, hi0, fix)
        left = time_limit - (time.perf_counter() - started)
        low, z = enclosure.safe_min(cvec, A, lo, hi, left)
        if low is not None:
            low = low - enclosure.ENGINE_SLACK * (1.0 + abs(low - const))
        ub = bound if low is None else min(bound, -low + const)
        proven = proven and low is not None
        done += low is not None
        if ub > upper:
            upper = ub
            if z is not None:
                best_sol = (z.copy(), k, s)
    batch = None if best_sol is None else _to_batch(net, model, best_sol, x, fail_neuron,
                                                    synapse_vars)
    status = (f"{done} of {len(jobs)} linear programs (set, output, sign) solved or ruled "
              f"out over an enclosure of {'/'.join(sorted(set(net.activations)))}")
    return MilpResult(float(upper), proven, batch, float(upper), status,
                      time.perf_counter() - started, enclosure=True)


def _fixed(lo0: Array, hi0: Array, fix: dict[int, float]) -> tuple[Array, Array]:
    """Variable bounds with the variables of `fix` pinned to their values (a failed set)."""
    lo, hi = lo0.copy(), hi0.copy()
    for v, val in fix.items():
        lo[v] = hi[v] = val
    return lo, hi


def _to_batch(net, model, sol, x, fail_neuron, synapse_vars) -> Batch:
    """The MILP's solution as a one-element Batch (input, failed sets, values)."""
    z, k, s = sol
    xv = np.clip(z[x], net.input_low, net.input_high)
    sets = []
    for l in range(1, net.depth + 1):
        nb = fail_neuron[l + 1] if l + 1 < len(fail_neuron) else {}
        crashed = tuple(i for i, v in enumerate(nb.get("crash", [])) if z[v] > 0.5)
        byz = tuple(i for i, v in enumerate(nb.get("byz", [])) if z[v] > 0.5)
        sets.append((crashed, byz))
    batch = make_batch(net, model, xv[None, :], [tuple(sets)], np.array([k]), np.array([s]))
    for l, syn in enumerate(synapse_vars, start=1):
        if syn["lost"] is not None:
            batch.missing[l - 1][0] |= z[syn["lost"]] > 0.5
        if syn["rep"] is not None:
            batch.replaced[l - 1][0] |= z[syn["rep"]] > 0.5
        for (j, i), q in syn["q"].items():
            batch.value[l - 1][0, j, i] = np.clip(z[q], -model.capacity, model.capacity)
    return batch
