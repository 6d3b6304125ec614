"""Quorums from an error budget (SPEC 6): certificates, limits, rules, and the bound in action.

The certificate is checked against an independent faulty forward pass: every
receiver of layer l misses its own set of s_l signals (the crashed senders
among them), used as 0, on corner and random inputs.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim.data.network import random_network
from neurosim.data.scenario import parse_scenario
from neurosim.quorum import (
    QuorumPlan,
    allocate_quorum,
    auto_quorum,
    bound_function,
    expected_gains,
    skip_limits,
)
from neurosim.setup import prepare

RULES = ["equal", "greedy"]
CERTIFY = ["weight_aware", "paper"]
ACTS = ["sigmoid", "tanh", "relu", "identity", "hard_sigmoid"]


def small_case(seed: int):
    """A random small network (1-3 hidden layers of 2-6 neurons) and crash counts."""
    rng = np.random.default_rng(seed)
    L = int(rng.integers(1, 4))
    sizes = [int(rng.integers(2, 7)) for _ in range(L + 2)]
    act = ACTS[seed % len(ACTS)]
    net = random_network(sizes, act, float(rng.uniform(0.2, 1.0)), seed,
                         input_low=float(rng.choice([0.0, -1.0])), input_high=1.0)
    crash = [int(rng.integers(0, n // 2 + 1)) for n in sizes[1:-1]]
    return net, {"crash": crash}


def skips_total(plan: QuorumPlan) -> int:
    return sum(plan.skipped)


def budget_at(net, counts, certify, f):
    """bound(fewest skips) + f * (the room up to the bound with the most skips)."""
    lo, hi = skip_limits(net, counts)
    bound = bound_function(net, counts, certify)
    base = bound(lo)
    return base + f * max(bound(hi) - base, 0.1 * base, 1e-6)


# ------------------------------------------------------------ the certificate


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("certify", CERTIFY)
@pytest.mark.parametrize("seed", range(4))
def test_plan_is_certified_and_consistent(seed, certify, rule):
    net, counts = small_case(seed)
    lo, hi = skip_limits(net, counts)
    bound = bound_function(net, counts, certify)
    for f in (-0.5, 0.0, 0.1, 0.3, 0.7, 2.0):
        plan = allocate_quorum(net, budget_at(net, counts, certify, f), counts, rule, certify)
        assert plan.certified == (plan.bound <= plan.budget)
        assert plan.bound == pytest.approx(bound(plan.skipped), rel=1e-12)
        assert plan.quorum == [n - s for n, s in zip(net.sizes[:-1], plan.skipped)]
        assert all(k >= 1 for k in plan.quorum)
        if plan.certified:
            assert plan.bound <= plan.budget
            assert all(a <= s <= b for a, s, b in zip(lo, plan.skipped, hi))
        d = plan.as_dict()
        assert d["quorum"] == plan.quorum and d["allocation"] == rule
        assert d["certify"] == certify and d["certified"] == plan.certified


@pytest.mark.parametrize("rule", RULES)
def test_budget_too_small_gives_wait_all(rule):
    net, counts = random_network([4, 6, 5, 3], "tanh", 0.5, 1), {"crash": [2, 1]}
    base = bound_function(net, counts)(skip_limits(net, counts)[0])
    for budget in (base * 0.999, 1e-12):
        plan = allocate_quorum(net, budget, counts, rule)
        assert not plan.certified
        assert plan.quorum == net.sizes[:-1]  # wait-all: k_l = N_{l-1}
        assert plan.skipped == [0, 0, 0]
        assert plan.bound == pytest.approx(base)  # wait-all misses just the crashed signals
    assert allocate_quorum(net, base, counts, rule).certified  # the limit itself fits


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("certify", CERTIFY)
def test_huge_budget_gives_quorum_one(rule, certify):
    net = random_network([5, 6, 4, 2], "sigmoid", 0.5, 2)
    plan = allocate_quorum(net, 1e12, {"crash": [2, 1]}, rule, certify)
    assert plan.certified
    assert plan.quorum == [1, 1, 1]
    # Lost signals are among the skipped ones; corrupted ones arrive and are never
    # counted as skipped: k_l >= max(1, corrupted).
    counts = {"crash": [2, 1], "byzantine": [1, 0], "synapse_crash": [0, 1, 1],
              "synapse_byzantine": [2, 0, 0]}
    plan = allocate_quorum(net, 1e12, counts, rule, certify)
    assert plan.certified
    assert plan.quorum == [2, 1, 1]  # N - min(N-1, N - corrupted)
    # lo = crashed + lost: layer 2 gets 2 + 1, layer 3 gets 1 + 1.
    assert skip_limits(net, counts) == ([0, 3, 2], [3, 5, 3])


def faulty_forward(net, X, skips, crashed, rng, adversarial):
    """Outputs when every receiver of layer l misses its own s_l senders (0 in their place).

    crashed[l]: bool (N_l,) for the hidden layers (index 0: inputs, never crashed).
    The crashed senders are always among a receiver's missing ones; the other
    s_l - crashed are random, or (adversarial) those of the largest signed
    contributions W_ji y_i of one sign chosen per receiver.
    """
    y = X
    phis = net.phis
    for l, (W, b) in enumerate(zip(net.weights, net.biases), start=1):
        n, (R, S) = len(X), W.shape
        if adversarial:
            sign = rng.choice([-1.0, 1.0], (n, R, 1))
            keys = -sign * W[None] * y[:, None, :]
        else:
            keys = rng.random((n, R, S))
        keys = np.where(crashed[l - 1][None, None, :], -np.inf, keys)
        rank = np.argsort(np.argsort(keys, axis=-1, kind="stable"), axis=-1)
        U = np.where(rank < skips[l - 1], 0.0, y[:, None, :])
        s = (W[None] * U).sum(axis=-1) + b
        y = phis[l - 1](s) if l <= net.depth else s
    return y


@pytest.mark.parametrize("seed", range(10))
def test_certificate_holds_empirically(seed):
    net, counts = small_case(seed)
    lo, _ = skip_limits(net, counts)
    rng = np.random.default_rng(1000 + seed)
    corners = np.array(list(itertools.product(*zip(net.input_low, net.input_high))))
    X = np.vstack([corners, rng.uniform(net.input_low, net.input_high, (64, net.sizes[0]))])
    clean = net.forward(X)
    added = 0
    for rule, certify in itertools.product(RULES, CERTIFY):
        for f in (0.2, 0.6):
            plan = allocate_quorum(net, budget_at(net, counts, certify, f), counts, rule,
                                   certify)
            assert plan.certified
            added += skips_total(plan) - sum(lo)
            worst = 0.0
            for draw in range(60):
                crashed = [np.zeros(net.sizes[0], dtype=bool)]
                for l, f in enumerate(counts["crash"], start=1):
                    crashed.append(np.isin(np.arange(net.sizes[l]),
                                           rng.choice(net.sizes[l], f, replace=False)))
                out = faulty_forward(net, X, plan.skipped, crashed, rng, draw % 2 == 1)
                worst = max(worst, float(np.abs(out - clean).max()))
            assert worst <= plan.bound * (1 + 1e-9) + 1e-12, (seed, rule, certify, plan)
            assert plan.bound <= plan.budget
    assert added > 0  # the plans skip more than the crashed signals: the check is not idle


# ------------------------------------------------------------ greedy and its gains


def test_exponential_gains_closed_form():
    from neurosim.engines.latency import make_latency

    for n in (2, 5, 16, 40):
        g = expected_gains(n)
        assert g == pytest.approx(1.0 / np.arange(1, n))  # H_{s+1} - H_s, whatever n
        # E[T_(n:n)] - E[T_(k:n)] = sum of the gains of the n-k skips = H_{n-k}.
        H = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, n + 1))])
        for k in range(1, n + 1):
            assert g[: n - k].sum() == pytest.approx(H[n] - (H[n] - H[n - k]))
        sampled = expected_gains(n, make_latency("exponential", mean=1.0))
        assert sampled == pytest.approx(g, abs=0.08)
        assert expected_gains(n, make_latency("exponential", mean=1.0)) == pytest.approx(sampled)


def test_gains_depend_on_senders_by_model():
    from neurosim.engines.latency import make_latency

    uniform = make_latency("uniform", low=0.0, high=2.0)
    pareto = make_latency("pareto", alpha=2.5, mean=1.0)
    # Uniform: equal spacings 2/(n+1): fewer senders gain more per skip.
    for n in (4, 16, 64):
        assert expected_gains(n, uniform) == pytest.approx(np.full(n - 1, 2 / (n + 1)), abs=0.02)
    # Heavy tail: the first skip saves more when there are more senders (E[max] grows).
    firsts = [expected_gains(n, pareto)[0] for n in (4, 16, 64)]
    assert firsts[0] < firsts[1] < firsts[2]


def one_skip_budget(net, counts, layer):
    """The bound with one skip more at `layer` (0-based), and a check it is a clean case."""
    lo, _ = skip_limits(net, counts)
    bound = bound_function(net, counts, "weight_aware")  # the cases are built for its shape
    one = lo.copy()
    one[layer] += 1
    b = bound(one)
    # Every two-skip plan exceeds it, so exactly one skip fits in the plan.
    for l1, l2 in itertools.combinations_with_replacement(range(len(lo)), 2):
        two = lo.copy()
        two[l1] += 1
        two[l2] += 1
        assert bound(two) > b
    return b


def test_greedy_prefers_layers_with_more_senders():
    # Receiving layers with 3, 8 and 4 senders; the 8 senders feed layer 2.
    from neurosim.engines.latency import make_latency

    net, counts = random_network([3, 8, 4, 2], "sigmoid", 0.5, 5), {"crash": [0, 0]}
    budget = one_skip_budget(net, counts, 1)
    # Exponential: every first skip gains 1 (H_n - H_{n-1}); ties go to more senders.
    wa = "weight_aware"
    assert allocate_quorum(net, budget, counts, "greedy", certify=wa).skipped == [0, 1, 0]
    pareto = make_latency("pareto", alpha=2.5, mean=1.0)
    assert allocate_quorum(net, budget, counts, "greedy", certify=wa,
                           latency=pareto).skipped == [0, 1, 0]
    # Uniform delays gain 2/(n+1) per skip: the 3-sender layer first.
    uniform = make_latency("uniform", mean=1.0)
    budget = one_skip_budget(net, counts, 0)
    assert allocate_quorum(net, budget, counts, "greedy", certify=wa,
                           latency=uniform).skipped == [1, 0, 0]


GREEDY_NETS = [small_case(seed) for seed in (0, 3, 6, 7)]


@settings(max_examples=40, deadline=None)
@given(case=st.sampled_from(range(len(GREEDY_NETS))),
       f1=st.floats(-0.2, 1.2), f2=st.floats(-0.2, 1.2))
def test_greedy_over_budgets(case, f1, f2):
    """More budget keeps the certificate; every plan is maximal (no single skip more fits).

    Total skips are *not* monotone in the budget (see the next test), so this
    checks what the rule guarantees.
    """
    net, counts = GREEDY_NETS[case]
    lo, hi = skip_limits(net, counts)
    bound = bound_function(net, counts)
    small, large = sorted((f1, f2))
    plans = [allocate_quorum(net, budget_at(net, counts, "weight_aware", f), counts, "greedy")
             for f in (small, large)]
    assert plans[0].certified <= plans[1].certified
    for plan in plans:
        if plan.certified:
            assert plan.bound <= plan.budget
            for l in range(len(lo)):
                if plan.skipped[l] < hi[l]:
                    more = list(plan.skipped)
                    more[l] += 1
                    assert bound(more) > plan.budget


def test_greedy_skips_not_monotone_in_budget():
    """A knapsack greedy: more budget buys an expensive skip and leaves no room for cheap ones.

    Layer 1 has 2 senders, layer 2 has 7 (2 crashed). One skip at layer 1
    costs more than four at layer 2, and takes the larger gain (1 vs 1/3).
    """
    net, counts = random_network([2, 7, 5], "relu", 0.5, 11), {"crash": [2]}
    wa = "weight_aware"  # the budgets are placed on its values
    assert allocate_quorum(net, 0.70, counts, "greedy", certify=wa).skipped == [0, 6]
    assert allocate_quorum(net, 0.76, counts, "greedy", certify=wa).skipped == [1, 2]


@pytest.mark.parametrize("seed", range(6))
def test_paper_dominates_and_its_plans_are_weight_aware_certified(seed):
    net, counts = small_case(seed)
    lo, hi = skip_limits(net, counts)
    wa, paper = bound_function(net, counts), bound_function(net, counts, "paper")
    rng = np.random.default_rng(seed)
    for _ in range(30):  # the paper's Fep dominates the weight-aware bound pointwise
        s = [int(rng.integers(a, b + 1)) for a, b in zip(lo, hi)]
        assert paper(s) >= wa(s) * (1 - 1e-12)
    for rule in RULES:
        for f in (0.0, 0.2, 0.5, 1.0):
            budget = budget_at(net, counts, "paper", f)
            p = allocate_quorum(net, budget, counts, rule, "paper")
            assert p.certified
            assert wa(p.skipped) <= budget  # the paper's plan is weight-aware certified too
            w = allocate_quorum(net, budget, counts, rule, "weight_aware")
            assert w.certified


# ------------------------------------------------------------ from a scenario


def scenario(**firing):
    data = {"network": {"sizes": [4, 6, 5, 3], "activation": "tanh", "weight_scale": 0.4},
            "failures": {"placement": "list", "crashed": [[1, 0], [1, 3], [2, 4]]},
            "latency": {"model": "uniform", "low": 0.5, "high": 1.5},
            "firing": {"rule": "quorum", "quorum": "auto", **firing}}
    return parse_scenario(data)


def test_auto_quorum_from_scenario():
    from neurosim.engines.latency import make_latency

    scn = scenario(epsilon=2.0, allocation="greedy", certify="weight_aware")
    setup = prepare(scn)
    plan = auto_quorum(setup.net, scn)
    expected = allocate_quorum(setup.net, 2.0, {"crash": [2, 1], "byzantine": [0, 0]}, "greedy",
                               "weight_aware", make_latency("uniform", low=0.5, high=1.5))
    assert plan == expected and plan.certified
    assert setup.quorum == plan.quorum
    assert plan.skipped[1] >= 2 and plan.skipped[2] >= 1  # crashed senders are skipped

    scn = scenario(epsilon=1e-9, allocation="equal", certify="paper")
    plan = auto_quorum(setup.net, scn)
    assert not plan.certified and plan.quorum == setup.net.sizes[:-1]


@pytest.mark.parametrize("latency", [
    {"model": "constant"}, {"model": "exponential", "mean": 2.0}, {"model": "uniform", "mean": 1.0},
    {"model": "lognormal", "sigma": 1.5}, {"model": "pareto", "alpha": 1.5},
    {"model": "empirical", "file": "delays.npy"}])
def test_auto_quorum_every_latency_model(latency, tmp_path):
    np.save(tmp_path / "delays.npy", np.array([0.5, 1.0, 1.0, 4.0]))
    data = {"network": {"sizes": [4, 6, 5, 3], "weight_scale": 0.3},
            "failures": {"crash": [1, 1]}, "latency": latency,
            "firing": {"rule": "quorum", "quorum": "auto", "epsilon": 0.3,
                       "allocation": "greedy"}}
    scn = parse_scenario(data, base_dir=str(tmp_path))
    setup = prepare(scn)
    plan = auto_quorum(setup.net, scn)
    assert plan.certified and setup.quorum == plan.quorum
    assert plan.skipped[1] >= 1 and plan.skipped[2] >= 1


def test_bad_arguments():
    net = random_network([3, 4, 2], "sigmoid", 0.5, 0)
    with pytest.raises(ValueError, match="allocation"):
        allocate_quorum(net, 1.0, {}, "fair")
    with pytest.raises(ValueError, match="certify"):
        allocate_quorum(net, 1.0, {}, "equal", "exact")
    with pytest.raises(ValueError, match="unknown failure counts"):
        allocate_quorum(net, 1.0, {"crashes": [1]})
    with pytest.raises(ValueError, match="layer 2"):
        allocate_quorum(net, 1.0, {"crash": [4]})  # every sender of layer 2 crashed


def test_bounds_grow_with_the_skips():
    """For at most the counts, one skip more can only add failure configurations, so both
    certifying bounds are non-decreasing in every s_l (the old exact-count bounds were not:
    a correct signal may deviate by more than a missing one)."""
    for seed in range(40):
        net, counts = small_case(seed)
        lo, hi = skip_limits(net, counts)
        for certify in CERTIFY:
            bound = bound_function(net, counts, certify)
            skips = list(lo)
            for l in range(len(lo)):
                while skips[l] < hi[l]:
                    before = bound(skips)
                    skips[l] += 1
                    assert before <= bound(skips), (seed, certify, skips)
