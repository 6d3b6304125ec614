"""SPEC 5: fault-free wait-all reproduces the plain forward pass, bit for bit, on both engines,
and a scikit-learn MLP gives the library's own predictions through the SimPy engine."""

from __future__ import annotations

import numpy as np
import pytest

from neurosim.data.build import digits_split, train_digits
from neurosim.data.network import from_sklearn, random_network
from neurosim.data.scenario import parse_scenario
from neurosim.engines.des import simulate_des
from neurosim.engines.fast import simulate_fast
from neurosim.engines.plan import FiringRule, Planner
from neurosim.setup import prepare

ACTIVATIONS = ["sigmoid", "tanh", "relu", "identity", "hard_sigmoid"]
LATENCIES = [
    {"model": "exponential", "mean": 1.0},
    {"model": "lognormal", "mean": 2.0, "sigma": 1.5},
    {"model": "pareto", "mean": 1.0, "alpha": 1.2},
]
ENGINES = {"des": simulate_des, "fast": simulate_fast}


def _plain_forward(net, x: np.ndarray) -> np.ndarray:
    """The forward pass written out here (not the code under test): phi(W y + b), row by row."""
    y = np.asarray(x, dtype=float)
    for l, (W, b) in enumerate(zip(net.weights, net.biases)):
        s = np.array([(W[j] * y).sum() + b[j] for j in range(W.shape[0])])
        y = net.phis[l](s) if l < net.depth else s
    return y


@pytest.mark.parametrize("engine", sorted(ENGINES))
@pytest.mark.parametrize("latency", LATENCIES, ids=lambda d: d["model"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_fault_free_wait_all_is_the_forward_pass(activation, latency, engine):
    seed = 11 + ACTIVATIONS.index(activation) * 7 + LATENCIES.index(latency)
    rng = np.random.default_rng(seed)
    sizes = [int(rng.integers(2, 9)) for _ in range(int(rng.integers(2, 5)))] + [3]
    # A wide input box and large weights: sigmoid/hard_sigmoid saturate, relu goes negative.
    scn = parse_scenario({
        "seed": seed, "trials": 6,
        "network": {"sizes": sizes, "activation": activation, "weight_scale": 2.0,
                    "input_low": -3.0, "input_high": 3.0},
        "latency": latency,
        "firing": {"rule": "wait-all"},
    })
    setup = prepare(scn)
    net = setup.net
    assert net.sizes == sizes and set(net.activations) <= {activation}
    batched = net.forward(setup.inputs)
    planner = Planner(scn, net, setup.inputs)
    rule = FiringRule.from_scenario(scn, setup.quorum)
    for trial in range(scn.trials):
        plan = planner.plan(trial)
        out = ENGINES[engine](net, plan, rule)
        x = setup.inputs[plan.input_index]
        assert out.output.dtype == np.float64
        assert np.array_equal(out.output, batched[plan.input_index]), (trial, out.output)
        assert np.array_equal(out.output, net.forward(x[None, :])[0])
        assert np.array_equal(out.output, _plain_forward(net, x))
        assert not out.blocked and np.isfinite(out.latency)
        # Wait-all: every signal was used, none wasted or lost.
        assert all(u.all() for u in out.used)
        m = out.messages
        assert m["sent"] == m["received"] == m["used"] == sum(
            a * b for a, b in zip(sizes, sizes[1:]))
        assert m["lost"] == m["wasted"] == m["in_flight"] == 0


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_mixed_activations_random_network_matches_forward(engine):
    """One activation per hidden layer, several draws of network and input."""
    for seed in range(4):
        rng = np.random.default_rng(100 + seed)
        sizes = [5, 7, 6, 4, 5, 2]
        acts = [str(a) for a in rng.permutation(ACTIVATIONS)[:4]]
        net = random_network(sizes, acts, 1.5, rng, -2.0, 2.0)
        X = rng.uniform(-2.0, 2.0, (5, sizes[0]))
        scn = parse_scenario({"seed": seed, "trials": len(X), "network": {"sizes": sizes},
                              "latency": {"model": "pareto", "alpha": 1.5}})
        planner = Planner(scn, net, X)
        rule = FiringRule.from_scenario(scn, None)
        for trial in range(len(X)):
            out = ENGINES[engine](net, planner.plan(trial), rule)
            assert np.array_equal(out.output, net.forward(X)[trial])


@pytest.fixture(scope="module")
def digits_model():
    model = train_digits([32, 16], "sigmoid", seed=0, max_iter=200)
    _, X_test, _, y_test = digits_split(0.3, 0)
    return model, X_test, y_test


def test_sklearn_digits_predictions_through_des(digits_model):
    """Every test digit (540) through the SimPy engine: the class sklearn's predict gives."""
    model, X_test, _ = digits_model
    net = from_sklearn(model)
    assert net.sizes == [64, 32, 16, 10]
    expected = model.predict(X_test)
    scn = parse_scenario({"seed": 3, "trials": len(X_test), "network": {"sizes": net.sizes},
                          "latency": {"model": "lognormal", "sigma": 1.0}})
    planner = Planner(scn, net, X_test)
    rule = FiringRule.from_scenario(scn, None)
    predicted = []
    for trial in range(len(X_test)):
        plan = planner.plan(trial)
        assert plan.input_index == trial
        out = simulate_des(net, plan, rule)
        assert not out.blocked
        predicted.append(model.classes_[int(np.argmax(out.output))])
    predicted = np.array(predicted)
    assert len(predicted) == len(X_test) > 500
    mismatches = np.flatnonzero(predicted != expected)
    assert len(mismatches) == 0, f"digits {mismatches[:10]} differ from model.predict"
    # The network is a real classifier, not a constant: sanity on the library's own accuracy.
    assert len(set(expected)) == 10


def test_sklearn_digits_fast_engine_and_probabilities(digits_model):
    """Fast engine on every test digit; the softmax of the output is sklearn's predict_proba."""
    model, X_test, _ = digits_model
    net = from_sklearn(model)
    scn = parse_scenario({"seed": 4, "trials": len(X_test), "network": {"sizes": net.sizes},
                          "latency": {"model": "exponential"}})
    planner = Planner(scn, net, X_test)
    rule = FiringRule.from_scenario(scn, None)
    outputs = np.array([simulate_fast(net, planner.plan(t), rule).output
                        for t in range(len(X_test))])
    assert np.array_equal(model.classes_[outputs.argmax(1)], model.predict(X_test))
    z = np.exp(outputs - outputs.max(1, keepdims=True))
    np.testing.assert_allclose(z / z.sum(1, keepdims=True), model.predict_proba(X_test),
                               rtol=1e-9, atol=1e-12)
