"""Corners an outside audit of the bounds found: each test failed before its fix.

The truth is computed here, apart from the engines and the bounds: the faulty network's
float64 forward pass written out with numpy for every failed set (brute force), compared
with the bounds for that set and for the counts that hold it.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim.bounds.signed import given_set_signed_bound, signed_bound
from neurosim.bounds.weight_aware import given_set_bound, signals_for_crashed
from neurosim.data.counts import failure_counts
from neurosim.data.network import make_network, random_network

TINY = 2.0 ** -1074


def crashed_error(net, x: np.ndarray, crashed: list[list[int]]) -> float:
    """max_k |F'_k(x) - F_k(x)| with the neurons `crashed[l-1]` of hidden layer l sending
    nothing (their receivers use 0), as a plain float64 forward pass."""
    y, yf = x.astype(float), x.astype(float)
    for l, (W, b) in enumerate(zip(net.weights, net.biases), start=1):
        s, sf = W @ y + b, W @ yf + b
        if l <= net.depth:
            phi = net.phis[l - 1]
            y, yf = phi(s), phi(sf)
            yf = yf.copy()
            yf[list(crashed[l - 1])] = 0.0
        else:
            y, yf = s, sf
    return float(np.abs(yf - y).max())


def all_crash_sets(net, counts: list[int]):
    """Every choice of exactly counts[l-1] crashed neurons per hidden layer."""
    per_layer = [list(itertools.combinations(range(net.sizes[l]), counts[l - 1]))
                 for l in range(1, net.depth + 1)]
    return itertools.product(*per_layer)


def test_subnormal_chord_offset_is_kept():
    """A relu whose pre-activation deviation lies in [-94 TINY, 3e9 TINY]: the chord's
    offset |a| b / (b - a) (about 19 TINY) was computed as a * b * ... / (b - a), whose
    product a * b underflowed to 0; the output weight 1e10 then made the missing offset
    4.9e-314, and the given-set signed bound (1.461622563316191e-304) fell below the
    measured error (1.4616225638102354e-304)."""
    net = make_network(
        [np.array([[1e10], [1e10]]),
         np.array([[0.93558915, -0.2958357], [-1.60854005, -1.09352153]]),
         np.array([[1e10, 1e10], [1e10, 1e10]])],
        None, ["identity", "relu"], np.array([0.0]), np.array([5e-324]))
    x = net.input_high
    for crashed in ([0], [1]):
        signals = signals_for_crashed(net, [crashed, []])
        error = crashed_error(net, x, [crashed, []])
        assert error > 0
        assert error <= given_set_signed_bound(net, signals)
        # and with the output layer skipping the second signal (a quorum of 1)
        skip = [s if s is None else s.copy() for s in signals] + []
        skip[2] = np.array([[0, 1], [0, 1]], dtype=np.int8)
        y = net.layer_outputs(x)
        yf1 = y[1].copy()
        yf1[crashed] = 0.0
        yf2 = net.phis[1](net.weights[1] @ yf1 + net.biases[1])
        out = net.weights[2][:, :1] @ yf2[:1] + net.biases[2]
        assert float(np.abs(out - y[3]).max()) <= given_set_signed_bound(net, skip)


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(st.integers(0, 10**6), st.sampled_from(["relu", "identity", "hard_sigmoid", "tanh"]),
       st.sampled_from([5e-324, 1e-320, 1e-310]), st.sampled_from([1.0, 1e10, 1e300]))
def test_subnormal_values_every_crash_set(seed, act, top, gain):
    """Networks whose values are subnormal (a tiny input box) and whose later weights are
    large: every crash set's float64 error within its given-set and worst-case bounds."""
    rng = np.random.default_rng(seed)
    sizes = [2, 3, 3, 2]
    Ws = [rng.normal(size=(sizes[l], sizes[l - 1])) for l in range(1, 4)]
    Ws[-1] *= gain
    net = make_network(Ws, None, [act, act], np.zeros(2), np.full(2, top))
    counts = [1, 1]
    worst = signed_bound(net, failure_counts(net, crash=counts))
    for x in (net.input_high, np.array([top, 0.0])):
        for sets in all_crash_sets(net, counts):
            crashed = [list(c) for c in sets]
            signals = signals_for_crashed(net, crashed)
            error = crashed_error(net, x, crashed)
            assert error <= given_set_signed_bound(net, signals) <= worst * (1 + 2**-40)
            assert error <= given_set_bound(net, signals)


# ---------------------------------------------------------------- weight precision


def _exact_beyond(used: float, W: float, eta: float) -> bool:
    from fractions import Fraction

    return abs(Fraction(used) - Fraction(W)) > Fraction(eta)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(st.floats(-1e300, 1e300), st.integers(-3, 3), st.floats(0, 1e3))
def test_beyond_precision_is_exact(W, steps, eta):
    from neurosim.data.quantize import beyond_precision, within_precision

    for e in (eta, np.spacing(abs(W)) * 0.75, np.spacing(abs(W)) * 0.5, 0.0):
        used = W + e
        for _ in range(abs(steps)):
            used = np.nextafter(used, np.inf if steps > 0 else -np.inf)
        assert bool(beyond_precision(np.array([used]), np.array([W]), e)[0]) == \
            _exact_beyond(used, W, e)
        kept = float(within_precision(np.array([W + e]), np.array([W]), e)[0])
        assert not _exact_beyond(kept, W, e)


def _write_net(path, Ws, acts):
    from neurosim.data.network import save_network

    save_network(make_network(Ws, None, acts, np.zeros(Ws[0].shape[1]),
                              np.ones(Ws[0].shape[1])), path)


def test_pinned_weights_beyond_the_precision_are_refused(tmp_path, capsys):
    """Pinned weights were accepted up to 4 ulps beyond eta: with precision 0, a weight
    1 + 4 ulp on a 1-1-1 identity network gave error 8.9e-16 against given-set bounds of
    0 (exit 1, 'BOUND VIOLATED'). Now refused: one line naming the key, exit 2."""
    from neurosim.front.cli import main

    _write_net(tmp_path / "net.npz", [np.array([[1.0]]), np.array([[1.0]])], ["identity"])
    w = 1.0
    for _ in range(4):
        w = np.nextafter(w, 2.0)
    np.savez(tmp_path / "pin.npz", weights1=np.array([[w]]))
    (tmp_path / "s.toml").write_text(
        'trials = 2\n[network]\nfile = "net.npz"\n[inputs]\nkind = "corner"\n'
        '[failures]\nplacement = "list"\npinned = "pin.npz"\n')
    assert main(["run", str(tmp_path / "s.toml"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "failures.pinned" in err[0] and "weights1" in err[0]
    # within eta (here exactly eta away) stays accepted, and the run holds its bounds
    np.savez(tmp_path / "pin.npz", weights1=np.array([[1.5]]))
    (tmp_path / "s.toml").write_text(
        'trials = 2\n[network]\nfile = "net.npz"\n[inputs]\nkind = "corner"\n'
        '[failures]\nplacement = "list"\npinned = "pin.npz"\nprecision = 0.5\n')
    assert main(["run", str(tmp_path / "s.toml"), "--out", str(tmp_path / "out")]) == 0


@settings(max_examples=10, deadline=None, derandomize=True, database=None)
@given(st.integers(0, 10**6), st.sampled_from([None, 3, 8]))
def test_drawn_weights_stay_within_eta_exactly(seed, bits):
    """fl(W +- eta) rounds beyond W +- eta by up to half an ulp of W: with eta = 0.75 ulp of
    W, W + eta rounds to W + 1 ulp. Every weight a trial uses is within the bounds' eta of
    W, exactly (quantized or not)."""
    from neurosim.data.build import weight_precision
    from neurosim.data.scenario import parse_scenario
    from neurosim.engines.plan import Planner

    rng = np.random.default_rng(seed)
    W1 = rng.choice([1.0, 3.0, -1.0, 0.7], size=(3, 2))
    W2 = rng.normal(size=(2, 3))
    eta = float(np.spacing(1.0) * 0.75)
    data = {"seed": seed, "trials": 4, "network": {"sizes": [2, 3, 2]},
            "failures": {"precision": [eta, 0.01]}}
    if bits:
        data["failures"]["bits"] = bits
    scn = parse_scenario(data)
    net = make_network([W1, W2], None, ["relu"], np.zeros(2), np.ones(2))
    etas = weight_precision(scn, net)
    planner = Planner(scn, net, np.ones((1, 2)))
    for plan in planner.plans(range(4)):
        for W, used, e in zip(net.weights, plan.weights, etas, strict=True):
            for w, u in zip(W.ravel().tolist(), used.ravel().tolist(), strict=True):
                assert not _exact_beyond(u, w, e), (w, u, e)


# ---------------------------------------------------------------- intervals in the subnormals


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(st.integers(0, 10**6), st.sampled_from(["tanh", "identity", "relu", "sigmoid"]),
       st.sampled_from([1e-311, 1e-318, 1e-300]))
def test_intervals_hold_the_engine_values_in_the_subnormals(seed, act, scale):
    """Weights of 1e-311 on inputs in [-1e3, 1e3]: the coefficients substituted back to the
    input were subnormal, each product off by up to TINY / 2, times the inputs' 1e3: layer
    2's linear intervals missed the engine's pre-activations by up to 430 TINY."""
    from neurosim.bounds.linear_intervals import linear_intervals

    rng = np.random.default_rng(seed)
    sizes = [3, 4, 4, 2]
    Ws = [rng.normal(size=(sizes[l], sizes[l - 1])) * (scale if l == 1 else 1.0)
          for l in range(1, 4)]
    bs = [rng.normal(size=sizes[l]) * scale * rng.choice([0.0, 1e-3, 1.0])
          for l in range(1, 4)]
    net = make_network(Ws, bs, [act, act], np.full(3, -1e3), np.full(3, 1e3))
    iv = linear_intervals(net)
    X = rng.uniform(-1e3, 1e3, size=(300, 3))
    X = np.vstack([X, np.array(list(itertools.product([-1e3, 1e3], repeat=3)))])
    ys = net.layer_outputs(X)
    for l in range(1, 4):
        s = ys[l - 1] @ net.weights[l - 1].T + net.biases[l - 1]
        assert np.all(s >= iv.pre_low[l]) and np.all(s <= iv.pre_high[l]), l
        assert np.all(ys[l] >= iv.low[l]) and np.all(ys[l] <= iv.high[l]), l


# ---------------------------------------------------------------- terms that round to 0


def _forward_with(net, weights, x: np.ndarray) -> np.ndarray:
    """The network's float64 forward pass with other stored weights (same code path)."""
    from neurosim.data.network import preactivation

    y = x.astype(float)
    for l, (W, b) in enumerate(zip(weights, net.biases), start=1):
        s = preactivation(W, y, b)
        y = net.phis[l - 1](s) if l <= net.depth else s
    return y


def test_precision_term_below_half_tiny_is_not_taken_for_zero(tmp_path):
    """eta = 2^-475 on a weight 0.4 2^-474, input 2^-600: eta B = 2^-1075 rounds to 0 (ties
    to even), so every bound took the layer for one where both runs sum the same bits (0);
    but fl(W y) = 0 and fl((W + eta) y) = TINY, and an output weight of 1e300 made the
    error 4.9e-24 against bounds of 0 (paper, weight-aware, signed: all 0; exit 1)."""
    from neurosim.bounds.paper import paper_fep
    from neurosim.bounds.signed import given_set_signed_bound, signed_bound
    from neurosim.bounds.weight_aware import weight_aware_bound
    from neurosim.data.counts import Failures
    from neurosim.data.network import save_network
    from neurosim.data.scenario import load_scenario
    from neurosim.runner import run_trials
    from neurosim.setup import prepare

    y0, eta = 2.0 ** -600, 2.0 ** -475
    net = make_network([np.array([[0.4 * 2.0 ** -474]]), np.array([[1e300]])], None,
                       ["identity"], np.array([y0]), np.array([y0]))
    failures = Failures((0, 0), (0, 0), (eta, 0.0), 1.0)
    worst = 0.0
    for sign in (-1.0, 1.0):
        used = [net.weights[0] + sign * eta, net.weights[1]]
        error = float(np.abs(_forward_with(net, used, net.input_high)
                             - net.forward(net.input_high[None])[0]).max())
        worst = max(worst, error)
        assert error <= given_set_bound(net, [None, None], [eta, 0.0])
        assert error <= given_set_signed_bound(net, [None, None], [eta, 0.0])
    assert worst > 0
    for bound in (weight_aware_bound(net, failures), signed_bound(net, failures),
                  paper_fep(net, failures).fep):
        assert worst <= bound
    save_network(net, tmp_path / "net.npz")
    (tmp_path / "s.toml").write_text(
        f'trials = 8\n[network]\nfile = "net.npz"\n[inputs]\nkind = "corner"\n'
        f'[failures]\nprecision = [{eta!r}, 0.0]\n')
    summary = run_trials(prepare(load_scenario(tmp_path / "s.toml")), "fast")
    assert summary["max_error"] > 0 and summary["violations"] == 0


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(st.integers(0, 10**6), st.sampled_from(["identity", "relu", "tanh"]))
def test_products_near_the_underflow_every_sign_and_crash(seed, act):
    """Weights and values whose products straddle TINY / 2, a crash or a weight error
    whose terms round to 0: every crash set and every sign pattern of the weight errors,
    within the given-set bounds (brute force, float64 forward pass)."""
    from neurosim.data.quantize import within_precision

    rng = np.random.default_rng(seed)
    x0 = 2.0 ** -600
    W1 = rng.choice([0.3, 0.4, 0.5, 0.6, 1.5], size=(2, 2)) * 2.0 ** -474
    W1 *= rng.choice([-1.0, 1.0], size=W1.shape)
    W2 = rng.choice([-1.0, 1.0], size=(1, 2)) * rng.choice([1e300, 1.0])
    net = make_network([W1, W2], None, [act], np.full(2, x0), np.full(2, x0))
    eta = float(rng.choice([0.0, 2.0 ** -475, 2.0 ** -476]))
    clean = net.forward(net.input_high[None])[0]
    for crashed in ([], [0], [1]):
        signals = signals_for_crashed(net, [crashed])
        for signs in itertools.product([-1.0, 1.0], repeat=4 if eta else 0):
            used = [net.weights[0], net.weights[1]]
            if eta:
                used[0] = within_precision(net.weights[0] + eta * np.reshape(signs, (2, 2)),
                                           net.weights[0], eta)
            y = _forward_with(net, used, net.input_high) if not crashed else None
            if crashed:
                y1 = net.phis[0](used[0] @ net.input_high)
                y1[crashed] = 0.0
                y = used[1] @ y1
            error = float(np.abs(y - clean).max())
            assert error <= given_set_bound(net, signals, [eta, 0.0])
            assert error <= given_set_signed_bound(net, signals, [eta, 0.0])


def test_worst_case_signed_is_not_below_a_given_set_whose_terms_underflow(tmp_path):
    """Weights 1e-304 on values 1e-300: every failure term -W y rounds to 0. A given set
    with a lost synapse charges the runs' rounding from that layer on (its failed terms
    may cancel); the worst case took its box of zeros for 'nothing fails' and was 0: the
    run reported 'given-set signed bound above the signed' (exit 1) on every trial."""
    from neurosim.data.network import save_network
    from neurosim.data.scenario import load_scenario
    from neurosim.runner import run_trials
    from neurosim.setup import prepare

    net = make_network([np.array([[1e-303, 0.0], [0.0, 1e-303], [1e-303, 1e-303]]),
                        np.array([[-2e-304, 1.7e-309, 2e-312]])],
                       [np.zeros(3), np.array([1.7e-302])], ["identity"],
                       np.full(2, -1e3), np.full(2, 1e3))
    save_network(net, tmp_path / "net.npz")
    failures = failure_counts(net, synapse_crash=[0, 1])
    worst = signed_bound(net, failures)
    for i in range(3):
        kind = np.zeros((1, 3), dtype=np.int8)
        kind[0, i] = 1  # MISSING
        signals = [None, kind]
        assert given_set_signed_bound(net, signals) <= worst * (1 + 2.0 ** -40) + TINY
    (tmp_path / "s.toml").write_text(
        'trials = 6\n[network]\nfile = "net.npz"\n[failures]\nsynapse_crash = [0, 1]\n')
    summary = run_trials(prepare(load_scenario(tmp_path / "s.toml")), "fast")
    assert summary["violations"] == 0, summary["violation_details"]


def test_signed_coefficients_that_underflow_are_charged(tmp_path):
    """1e-200 * 1e-200: the signed bound substitutes coefficients back (g = W3 W2 = 1e-400,
    0 in float64) where the engine multiplies values (W2 y = 1e50, then W3: 1e-150). A lost
    input synapse into layer 1 then gave an error of 1e-150 against a signed bound (given
    set and worst case) of 1.04e-164; the weight-aware bound was right."""
    from neurosim.data.network import preactivation, save_network
    from neurosim.data.scenario import load_scenario
    from neurosim.runner import run_trials
    from neurosim.setup import prepare

    net = make_network([np.array([[1e100, 1e100]]), np.array([[1e-200]]),
                        np.array([[1e-200]])], None, ["identity", "identity"],
                       np.zeros(2), np.full(2, 1e150))
    x = net.input_high
    s1 = preactivation(net.weights[0], np.array([0.0, x[1]]), net.biases[0])
    out = net.weights[2] @ (net.weights[1] @ s1)
    error = float(np.abs(out - net.forward(x[None])[0]).max())
    assert error > 0.99e-150
    signals = [np.array([[1, 0]], dtype=np.int8), None, None]
    assert error <= given_set_signed_bound(net, signals)
    assert error <= signed_bound(net, failure_counts(net, synapse_crash=[1, 0, 0]))
    save_network(net, tmp_path / "net.npz")
    (tmp_path / "s.toml").write_text(
        'trials = 4\n[network]\nfile = "net.npz"\n[inputs]\nkind = "corner"\n'
        '[failures]\nsynapse_crash = [1, 0, 0]\n[firing]\nrule = "quorum"\nquorum = 1\n')
    summary = run_trials(prepare(load_scenario(tmp_path / "s.toml")), "fast")
    assert summary["max_error"] == error and summary["violations"] == 0


# ---------------------------------------------------------------- the attack's MILP at scale


@pytest.mark.parametrize("failures", [dict(lost=(0, 1, 1)), dict(crash=(1, 0), lost=(1, 0, 0))])
def test_milp_bound_holds_for_tiny_output_weights(failures):
    """The error is linear in the output weights: scaled by 1e-12, the worst case scales too.
    HiGHS's tolerances are absolute (reduced costs 1e-7, MIP gap 1e-6): there every cost
    was below them, a vertex passed for optimal, and the MILP's proven upper bound fell
    below errors the model attains (in `neurosim attack`: bound_milp / 1e-12 = 12.81 against
    13.55 attained, so bound_tightest below an attained error, and "exact" claimed through
    an absolute slack of 1e-9). Checked against brute force over every failed set and a
    grid of inputs, as tests/test_attack.py does at scale 1."""
    from neurosim.attack.milp import worst_case_milp
    from tests.test_attack import brute_force, model_of

    net = random_network([2, 3, 3, 2], "relu", 1.0, rng=7, input_low=-1.0, input_high=1.0)
    # The output layer's weights and bias scaled (the bias too: else its rounding, 1e-16,
    # would be most of an error of 3e-14).
    W, b = list(net.weights), list(net.biases)
    W[-1], b[-1] = W[-1] * 1e-12, b[-1] * 1e-12
    net = make_network(W, b, list(net.activations), net.input_low, net.input_high)
    model = model_of(**failures)
    res = worst_case_milp(net, model, time_limit=60.0)
    g = np.linspace(-1.0, 1.0, 41)
    grid = brute_force(net, model, np.array(list(itertools.product(g, g))))
    assert grid > 0
    assert grid <= res.upper * (1 + 1e-6)


def test_bounds_chain_near_the_subnormals_is_not_a_violation(tmp_path):
    """One Byzantine sender of C = 5e-324 (TINY) into two receivers: the given set is the
    worst case, and the given-set and worst-case bounds (equal in real arithmetic, summed in
    different orders) came out 2 TINY apart: 1.1067e-321 against 1.0968e-321. The chain
    check allowed 1 TINY, and the run reported 'given-set bound above the weight-aware'
    (exit 1) on a run whose every error was within its bounds."""
    from neurosim.bounds.rounding import bounds_ordered
    from neurosim.data.network import save_network
    from neurosim.data.scenario import load_scenario
    from neurosim.runner import run_trials
    from neurosim.setup import prepare

    assert bounds_ordered(1.1067070466843923e-321, 1.0968257337675673e-321)
    assert not bounds_ordered(1e-300, 0.9e-300)
    net = make_network([np.array([[0.0]]), np.array([[0.42995398], [3.13335969]]),
                        np.array([[-1.0, 3.0]])], None, ["relu", "tanh"],
                       np.array([1e-300]), np.array([1e-300]))
    save_network(net, tmp_path / "net.npz")
    (tmp_path / "s.toml").write_text(
        'trials = 4\n[network]\nfile = "net.npz"\n[inputs]\nkind = "corner"\n'
        '[failures]\nbyzantine = [1, 0]\ncapacity = 5e-324\nprecision = [0.0, 0.0, 0.01]\n')
    summary = run_trials(prepare(load_scenario(tmp_path / "s.toml")), "fast",
                         out_dir=tmp_path / "out")
    assert summary["violations"] == 0, summary["violation_details"]
    # and its plots draw without a float warning (hi / lo overflowed for lo ~ 1e-321)
    import warnings

    from neurosim.front.plots import plot_results

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert plot_results(tmp_path / "out")
