"""The exact worst case of a piecewise-linear network as a mixed-integer linear program.

For relu, identity and hard_sigmoid activations the output error over the
input box and every failed set of the allowed sizes is the optimum of a
MILP (solved by HiGHS through `scipy.optimize.milp`; scipy comes with
scikit-learn). Variables:

- the input x in the box, shared by both copies;
- per hidden neuron of the fault-free and of the faulty copy, its
  pre-activation s and output y, with one binary per kink of phi (relu:
  active or not; hard_sigmoid = relu(t) - relu(t - 1), t = s/4 + 1/2) whose
  big-M constants come from interval bounds of s;
- one binary per failed-or-not choice: crashed or Byzantine neuron, lost
  or Byzantine synapse (at-most counts as linear constraints);
- what each receiver uses: u = y' * keep (keep = 1 minus the failure
  binaries, linearised with the bounds of y') plus, where a sender or
  synapse may be Byzantine, a free value q with |q| <= C * replaced.

The error max_k |F'_k - F_k| is a maximum of 2K linear objectives: one MILP
per output k and sign, each with the constraint "objective >= the best
error found so far" so that outputs that cannot beat it are proved
infeasible quickly. The result is exact (to HiGHS's tolerances) when every
one of them is solved to optimality or proved infeasible; otherwise the
largest dual bound is a proven upper bound. Weight errors (precision) make
the program bilinear and are not handled.

Sigmoid and tanh get the same program with phi enclosed between lines
(`neurosim.attack.enclosure`): its optimum is then only an upper bound. Each
neuron is tied to its faulty twin by the mean-value cuts of
`neurosim.attack.cuts`. Solving: `neurosim.attack.milp_solve`.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.optimize import LinearConstraint
from scipy.sparse import coo_matrix

from neurosim.attack import cuts, enclosure, milp_scale
from neurosim.attack.faults import FaultModel
from neurosim.attack.milp_solve import PIECEWISE_LINEAR, MilpResult, solve_outputs
from neurosim.bounds.intervals import interval_bounds
from neurosim.data.network import Network

Array = np.ndarray

PAD = 1e-6  # relative widening of the big-M intervals, well beyond HiGHS's tolerances (1e-7
# let it call a point of error 6e-7 optimal where 0.36 was feasible: tests/test_milp_units.py)


def milp_supported(net: Network, model: FaultModel) -> str | None:
    """None when the program can be built for this network and failure model (exact for
    piecewise-linear activations, an enclosure bound for sigmoid and tanh), else why not."""
    other = sorted(set(net.activations) - set(PIECEWISE_LINEAR) - set(enclosure.SMOOTH))
    if other:
        return f"activation {', '.join(other)} has no linear encoding here"
    if any(model.eta):
        return "weight errors (precision) make the program bilinear"
    return None


class _Program:
    """Rows and columns of a MILP, collected as lists."""

    def __init__(self) -> None:
        self.lo: list[float] = []
        self.hi: list[float] = []
        self.integer: list[int] = []
        self.rows: list[tuple[dict[int, float], float, float]] = []

    def var(self, lo: float, hi: float, integer: bool = False) -> int:
        self.lo.append(lo)
        self.hi.append(hi)
        self.integer.append(int(integer))
        return len(self.lo) - 1

    def row(self, coef: dict[int, float], lo: float = -np.inf, hi: float = np.inf) -> None:
        self.rows.append((coef, lo, hi))

    def matrix(self, extra: list[tuple[dict[int, float], float, float]] = ()) -> LinearConstraint:
        r, c, v, lo, hi = [], [], [], [], []
        for n, (coef, a, b) in enumerate(list(self.rows) + list(extra)):
            for j, x in coef.items():
                r.append(n)
                c.append(j)
                v.append(x)
            lo.append(a)
            hi.append(b)
        A = coo_matrix((v, (r, c)), shape=(len(lo), len(self.lo))).tocsr()
        return LinearConstraint(A, lo, hi)


def _pad(lo: Array, hi: Array) -> tuple[Array, Array]:
    w = PAD * (1.0 + np.maximum(np.abs(lo), np.abs(hi)))
    return lo - w, hi + w


def _affine(p: _Program, terms: dict[int, float], const: float, lo: float, hi: float) -> int:
    """A variable s = sum terms + const with bounds [lo, hi]."""
    s = p.var(lo, hi)
    p.row({**terms, s: -1.0}, -const, -const)
    return s


def _relu(p: _Program, s: int, a: float, b: float) -> tuple[int | None, float, float, bool]:
    """y = max(s, 0) for s in [a, b]: (y, its bounds, whether a binary was needed); y None
    when y = 0 is constant."""
    if b <= 0:
        return None, 0.0, 0.0, False
    if a >= 0:
        return s, a, b, False
    y = p.var(0.0, b)
    d = p.var(0.0, 1.0, integer=True)
    p.row({y: 1.0, s: -1.0}, lo=0.0)               # y >= s
    p.row({y: 1.0, s: -1.0, d: -a}, hi=-a)         # y <= s - a (1 - d)
    p.row({y: 1.0, d: -b}, hi=0.0)                 # y <= b d
    return y, 0.0, b, True


def _activation(p: _Program, name: str, terms: dict[int, float], const: float, a: float,
                b: float) -> tuple[dict[int, float], float, float, float]:
    """phi(sum terms + const) with pre-activation in [a, b] as (terms, const, low, high)."""
    if name == "identity":
        return terms, const, a, b
    if name == "relu":
        s = _affine(p, terms, const, a, b)
        y, lo, hi, _ = _relu(p, s, a, b)
        return ({} if y is None else {y: 1.0}), 0.0, lo, hi
    # hard_sigmoid = relu(t) - relu(t - 1), t = s / 4 + 1 / 2.
    ta, tb = 0.25 * a + 0.5, 0.25 * b + 0.5
    t = _affine(p, {j: 0.25 * c for j, c in terms.items()}, 0.25 * const + 0.5, ta, tb)
    r1, _, _, _ = _relu(p, t, ta, tb)
    t1 = _affine(p, {t: 1.0}, -1.0, ta - 1.0, tb - 1.0)
    r2, _, _, _ = _relu(p, t1, ta - 1.0, tb - 1.0)
    out: dict[int, float] = {}
    if r1 is not None:
        out[r1] = 1.0
    if r2 is not None:
        out[r2] = out.get(r2, 0.0) - 1.0
    return out, 0.0, float(np.clip(ta, 0, 1)), float(np.clip(tb, 0, 1))


def deviation_bounds(net: Network, model: FaultModel, iv) -> list[Array]:
    """Per receiving layer l = 1..L+1, a bound on |s'_j - s_j| (faulty minus fault-free
    pre-activation), shape (N_l,): the weight-aware recursion for at-most counts, with
    the local slopes. The program gets it as a constraint (a cut that tightens its
    relaxation) and to narrow the faulty copy's big-M intervals."""
    e = np.zeros(net.sizes[0])
    C, out = model.capacity, []
    for l, W in enumerate(net.weights, start=1):
        A = np.abs(W)
        B = iv.sup_abs(l - 1)
        m = (model.crash[l - 2] if l >= 2 else 0) + model.lost[l - 1]
        z = (model.byzantine[l - 2] if l >= 2 else 0) + model.corrupted[l - 1]
        correct = A * e
        d = correct.sum(axis=1)
        extra = np.maximum(A * B - correct, 0.0)
        if z:
            extra = np.maximum(extra, A * (C + B) - correct)
        if m + z:
            k = min(m + z, W.shape[1])
            d = d + np.sort(extra, axis=1)[:, -k:].sum(axis=1)
        # A margin well above HiGHS's tolerances: with 1e-9 of it, a crash whose deviation
        # was the bound to 1e-9 was declared infeasible (proven 0.1455 against 0.3555).
        d = d * (1 + 1e-6) + 1e-9
        out.append(d)
        if l <= net.depth:
            phi = net.phis[l - 1]
            a, b = iv.pre_low[l] - d, iv.pre_high[l] + d
            e = np.minimum(phi.slope(a, b) * d, phi(b) - phi(a))
    return out


def _tightened(p: _Program, terms: list[dict[int, float]], const: Array, lo: Array,
               hi: Array, deadline: float) -> tuple[Array, Array]:
    """[lo, hi] narrowed to the min and max of each expression over the LP relaxation, as
    far as the time (perf_counter deadline) allows: the rest keep their bounds."""
    A = p.matrix()
    n = len(p.lo)
    lo, hi = lo.copy(), hi.copy()
    for j, t in enumerate(terms):
        c = np.zeros(n)
        for v, w in t.items():
            c[v] = w
        for sense in (1.0, -1.0):
            left = deadline - time.perf_counter()
            if left <= 0:
                return lo, hi
            res = _lp(sense * c, A, p, left)
            if res is None:
                continue
            value = sense * res + const[j]
            w = PAD * (1.0 + abs(value))
            if sense > 0:
                lo[j] = max(lo[j], value - w)
            else:
                hi[j] = min(hi[j], value + w)
    return lo, hi


def _lp(c: Array, A: LinearConstraint, p: _Program, time_limit: float) -> float | None:
    """A lower bound on min c @ z over the relaxation that holds whatever the solver's
    tolerances (None if the solver does not finish within time_limit seconds)."""
    return enclosure.safe_min(c, A, np.array(p.lo), np.array(p.hi), time_limit)[0]


def worst_case_milp(net: Network, model: FaultModel, time_limit: float,
                    lower: float = 0.0, tighten: bool = True,
                    first: tuple[int, float] | None = None) -> MilpResult:
    """The largest max-norm output error over the box and the failure model (see module doc).

    lower: an error already found (the programs only look above it). first:
    the (output, sign) to solve first, e.g. the found witness's.

    The program is built in units that make its rows of order 1
    (`neurosim.attack.milp_scale`); where HiGHS's absolute tolerances could still
    move the answer by more than a small fraction of it, the result is not proven and
    its upper bound is the sound deviation bound.
    """
    # Byzantine values share one capacity C across senders: per-neuron units would need
    # one per sender, so such models keep the network's own units (the reach check stays).
    u = milp_scale.choose_units(net, not (any(model.byzantine) or any(model.corrupted)))
    snet = milp_scale.rescaled(net, u)
    if not all(np.all(np.isfinite(W)) for W in snet.weights):
        u = milp_scale.choose_units(net, False)
        snet = net
    res = _worst_case(snet, model, time_limit, lower / u.output, tighten, first)
    reach = milp_scale.tolerance_reach(snet)
    res.upper, res.value = res.upper * u.output, res.value * u.output
    if res.batch is not None:
        res.batch.x = np.clip(res.batch.x * u.inputs, net.input_low, net.input_high)
    res.slack = reach * u.output
    if not res.enclosure and reach > milp_scale.TRUSTED * max(res.upper, res.value) / u.output:
        # In the program's units: its absolute margin (1e-9) is then relative to them.
        sound = u.output * float(np.max(deviation_bounds(snet, model, interval_bounds(snet))[-1],
                                        initial=0.0))
        res.upper, res.proven = max(res.upper, sound), False
        res.status += (f"; not proven: HiGHS's tolerances could move an output by "
                       f"{reach * u.output:.3g}, not small against the answer: the "
                       "deviation bound stands in")
    return res


def _worst_case(net: Network, model: FaultModel, time_limit: float, lower: float,
                tighten: bool, first: tuple[int, float] | None) -> MilpResult:
    """`worst_case_milp` in the units of `net`."""
    started = time.perf_counter()
    p = _Program()
    L, sizes, C = net.depth, net.sizes, model.capacity
    iv = interval_bounds(net)
    dev = deviation_bounds(net, model, iv)
    x = [p.var(lo, hi) for lo, hi in zip(net.input_low, net.input_high)]
    # Layer outputs as linear expressions (terms, const) with bounds, both copies.
    y = [({x[i]: 1.0}, 0.0) for i in range(sizes[0])]
    yf = list(y)
    yf_lo, yf_hi = net.input_low.astype(float), net.input_high.astype(float)
    fail_neuron: list[dict[str, list[int]]] = [{}]  # per layer: "crash"/"byz" binaries
    same = True  # the faulty copy equals the fault-free one up to this layer
    synapse_vars = []  # per receiving layer: dict with "lost", "rep" (N_l, N_{l-1}) var ids, "q"
    for l in range(1, L + 2):
        W, b = net.weights[l - 1], net.biases[l - 1]
        n_out, n_in = W.shape
        # Failure binaries of the senders (hidden layer l-1).
        nb = {"crash": [], "byz": []}
        if 1 <= l - 1 <= L:
            for kind, count in (("crash", model.crash[l - 2]), ("byz", model.byzantine[l - 2])):
                if count:
                    nb[kind] = [p.var(0, 1, True) for _ in range(n_in)]
                    p.row({v: 1.0 for v in nb[kind]}, hi=count)
            if nb["crash"] and nb["byz"]:
                for c, z in zip(nb["crash"], nb["byz"]):
                    p.row({c: 1.0, z: 1.0}, hi=1.0)
        fail_neuron.append(nb)
        lost_k, rep_k = model.lost[l - 1], model.corrupted[l - 1]
        syn = {"lost": None, "rep": None, "q": {}}
        if lost_k or rep_k:
            for kind, count in (("lost", lost_k), ("rep", rep_k)):
                if count:
                    ids = np.array([[p.var(0, 1, True) for _ in range(n_in)]
                                    for _ in range(n_out)])
                    syn[kind] = ids
                    for j in range(n_out):
                        p.row({int(v): 1.0 for v in ids[j]}, hi=count)
        synapse_vars.append(syn)
        byz_possible = bool(nb["byz"]) or syn["rep"] is not None
        # Fault-free pre-activations (expressions) and their bounds.
        s_lo, s_hi = _pad(iv.pre_low[l], iv.pre_high[l])
        # Faulty: what each receiver uses from each sender.
        u_lo = np.minimum(yf_lo, 0.0)
        u_hi = np.maximum(yf_hi, 0.0)
        if byz_possible:
            u_lo, u_hi = np.minimum(u_lo, -C), np.maximum(u_hi, C)
        sf_terms: list[dict[int, float]] = [{} for _ in range(n_out)]
        shared: dict[int, dict[int, float]] = {}  # per-sender u when no synapse failure
        for i in range(n_in):
            node_fail = [v[i] for v in (nb["crash"], nb["byz"]) if v]
            terms_i, const_i = yf[i]
            for j in range(n_out):
                syn_fail = [int(syn[k][j, i]) for k in ("lost", "rep") if syn[k] is not None]
                if syn_fail:
                    p.row({**{v: 1.0 for v in node_fail}, **{v: 1.0 for v in syn_fail}},
                          hi=1.0)
                fails = node_fail + syn_fail
                if not fails:
                    u = dict(terms_i)
                    for v, c in u.items():
                        sf_terms[j][v] = sf_terms[j].get(v, 0.0) + W[j, i] * c
                    continue
                if not syn_fail and i in shared:
                    u = shared[i]
                else:
                    u = {_keep(p, terms_i, const_i, fails, yf_lo[i], yf_hi[i]): 1.0}
                    if not syn_fail:
                        shared[i] = u
                for v, c in u.items():
                    sf_terms[j][v] = sf_terms[j].get(v, 0.0) + W[j, i] * c
                reps = ([nb["byz"][i]] if nb["byz"] else []) + \
                    ([int(syn["rep"][j, i])] if syn["rep"] is not None else [])
                if reps:
                    q = p.var(-C, C)
                    syn["q"][(j, i)] = q
                    p.row({q: 1.0, **{r: -C for r in reps}}, hi=0.0)   # q <= C rep
                    p.row({q: 1.0, **{r: C for r in reps}}, lo=0.0)    # q >= -C rep
                    sf_terms[j][q] = sf_terms[j].get(q, 0.0) + W[j, i]
            # The correct (unfailed) part's constant goes in below via const_i * W * keep: handled
            # in _keep, which makes u a variable whenever the sender can fail.
        # Correct senders with a constant part: add W * const.
        sf_const = b.astype(float).copy()
        for i in range(n_in):
            if not [v for v in (nb["crash"], nb["byz"]) if v] and \
                    all(syn[k] is None for k in ("lost", "rep")):
                sf_const += W[:, i] * yf[i][1]
        Wp, Wn = np.maximum(W, 0.0), np.minimum(W, 0.0)
        sf_lo, sf_hi = _pad(np.maximum(Wp @ u_lo + Wn @ u_hi + b, iv.pre_low[l] - dev[l - 1]),
                            np.minimum(Wp @ u_hi + Wn @ u_lo + b, iv.pre_high[l] + dev[l - 1]))
        # Fault-free expression.
        s_terms = [{} for _ in range(n_out)]
        s_const = b.astype(float).copy()
        for i in range(n_in):
            terms_i, const_i = y[i]
            s_const += W[:, i] * const_i
            for v, c in terms_i.items():
                for j in range(n_out):
                    if W[j, i]:
                        s_terms[j][v] = s_terms[j].get(v, 0.0) + W[j, i] * c
        # While no failure reaches a layer, its faulty copy is the fault-free one: one
        # set of variables and binaries, not two.
        was_same, send_lo, send_hi = same, yf_lo, yf_hi
        same = same and not (nb["crash"] or nb["byz"] or lost_k or rep_k)
        if not same:
            for j in range(n_out):  # |s'_j - s_j| <= dev_j
                row = dict(sf_terms[j])
                for v, c in s_terms[j].items():
                    row[v] = row.get(v, 0.0) - c
                shift = sf_const[j] - s_const[j]
                p.row(row, -dev[l - 1][j] - shift, dev[l - 1][j] - shift)
        if 2 <= l <= L and tighten:
            # Bounds from the linear relaxation of everything so far: much tighter than
            # interval propagation, and the big-M constants are what the solver lives on.
            # Half the time at most: the programs need the rest.
            deadline = started + 0.5 * time_limit
            s_lo, s_hi = _tightened(p, s_terms, s_const, s_lo, s_hi, deadline)
            if not same:
                sf_lo, sf_hi = _tightened(p, sf_terms, sf_const, sf_lo, sf_hi, deadline)
        if l <= L and net.activations[l - 1] in enclosure.SMOOTH:
            y, yf, yf_lo, yf_hi = _smooth_layer(p, net.activations[l - 1], same,
                                                (s_terms, s_const, s_lo, s_hi),
                                                (sf_terms, sf_const, sf_lo, sf_hi))
        elif l <= L:
            name = net.activations[l - 1]
            y_act = [_activation(p, name, s_terms[j], s_const[j], s_lo[j], s_hi[j])
                     for j in range(n_out)]
            y = [(t, c) for t, c, _, _ in y_act]
            new = y_act if same else [
                _activation(p, name, sf_terms[j], sf_const[j], sf_lo[j], sf_hi[j])
                for j in range(n_out)]
            yf = [(t, c) for t, c, _, _ in new]
            yf_lo = np.array([a for _, _, a, _ in new])
            yf_hi = np.array([b_ for _, _, _, b_ in new])
        if l <= L and not same:
            first_hit = was_same and not byz_possible
            _tie(p, net.activations[l - 1], W, nb, syn, y, yf,
                 (s_terms, s_const, sf_terms, sf_const), np.minimum(s_lo, sf_lo),
                 np.maximum(s_hi, sf_hi), dev[l - 1], (send_lo, send_hi) if first_hit else None)
        if l > L:
            out_terms = [(s_terms[j], s_const[j], sf_terms[j], sf_const[j]) for j in range(n_out)]
    return solve_outputs(net, model, p, x, fail_neuron, synapse_vars, out_terms, time_limit,
                         lower, started, dev[-1], first, iv)


def _tie(p: _Program, name: str, W: Array, nb, syn, y, yf, pre, lo: Array, hi: Array,
         dev: Array, senders: tuple[Array, Array] | None) -> None:
    """The cuts of `neurosim.attack.cuts` between each neuron and its faulty twin: signed
    ones where this is the first layer the failures reach (`senders`: the bounds of
    its inputs, fault-free there), the cone elsewhere."""
    s_terms, s_const, sf_terms, sf_const = pre
    for j in range(W.shape[0]):
        d = dict(sf_terms[j])
        for v, c in s_terms[j].items():
            d[v] = d.get(v, 0.0) - c
        d_expr = (d, float(sf_const[j] - s_const[j]))
        if senders is None:
            cuts.cone_cut(p, name, y[j], yf[j], d_expr, lo[j], hi[j], float(dev[j]))
            continue
        neg, pos = [], []  # failures that could push d_j = -sum W_ji y_i down / up
        for i in range(W.shape[1]):
            fails = [v[i] for v in (nb["crash"],) if v]
            if syn["lost"] is not None:
                fails.append(int(syn["lost"][j, i]))
            w, ylo, yhi = W[j, i], senders[0][i], senders[1][i]
            if (w > 0 and yhi > 0) or (w < 0 and ylo < 0):
                neg += fails
            if (w < 0 and yhi > 0) or (w > 0 and ylo < 0):
                pos += fails
        cuts.monotone_cuts(p, name, y[j], yf[j], d_expr, neg, pos, lo[j], hi[j], float(dev[j]))


def _smooth_layer(p: _Program, name: str, same: bool, free, faulty):
    """Sigmoid or tanh outputs of both copies through the enclosure: (y, y', low, high
    of y')."""
    ids = []
    for terms, const, lo, hi in ([free] if same else [free, faulty]):
        s = [_affine(p, terms[j], const[j], lo[j], hi[j]) for j in range(len(lo))]
        ys = [enclosure.add_phi(p, name, s[j], lo[j], hi[j]) for j in range(len(lo))]
        ids.append((s, ys))
    ys, yfs = ids[0][1], ids[-1][1]
    y = [({v: 1.0}, 0.0) for v, _, _ in ys]
    yf = [({v: 1.0}, 0.0) for v, _, _ in yfs]
    return y, yf, np.array([a for _, a, _ in yfs]), np.array([b for _, _, b in yfs])


def _keep(p: _Program, terms: dict[int, float], const: float, fails: list[int], lo: float,
          hi: float) -> int:
    """A variable u = y * (1 - sum fails), y = terms + const in [lo, hi], the fails binary."""
    lo, hi = float(min(lo, 0.0)), float(max(hi, 0.0))
    u = p.var(lo, hi)
    f = {v: 1.0 for v in fails}
    # u <= hi * keep, u >= lo * keep  (keep = 1 - sum f)
    p.row({u: 1.0, **{v: hi for v in f}}, hi=hi)
    p.row({u: 1.0, **{v: lo for v in f}}, lo=lo)
    # u <= y - lo (1 - keep) = y - lo * sum f ; u >= y - hi * sum f
    row = {u: 1.0, **{v: lo for v in f}}
    for v, c in terms.items():
        row[v] = row.get(v, 0.0) - c
    p.row(row, hi=const)
    row = {u: 1.0, **{v: hi for v in f}}
    for v, c in terms.items():
        row[v] = row.get(v, 0.0) - c
    p.row(row, lo=const)
    return u
