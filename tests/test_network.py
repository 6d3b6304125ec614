"""The network of SPEC 1: file format, reproducibility, forward pass, activations, graph, sklearn.

Expected values come from independent references: a plain per-sample numpy
forward pass, numeric difference quotients, networkx counts and scikit-learn's
own predictions.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from neurosim.data.activations import ACTIVATIONS, get_activation
from neurosim.data.network import (
    load_network,
    make_network,
    preactivation,
    random_network,
    save_network,
    to_graph,
)
from neurosim.front.cli import main

ACTS = ["sigmoid", "tanh", "relu", "identity", "hard_sigmoid"]

# Independent references of the activations (not the package's code).
REFERENCE_PHI = {
    "sigmoid": lambda s: 1.0 / (1.0 + np.exp(-s)),
    "tanh": np.tanh,
    "relu": lambda s: np.maximum(s, 0.0),
    "identity": lambda s: s,
    "hard_sigmoid": lambda s: np.minimum(1.0, np.maximum(0.0, 0.25 * s + 0.5)),
}
EXPECTED_K = {"sigmoid": 0.25, "tanh": 1.0, "relu": 1.0, "identity": 1.0, "hard_sigmoid": 0.25}


def reference_forward(net, x):
    """One sample, one layer at a time, with `@` and the reference activations."""
    y = np.asarray(x, dtype=float)
    for l, (W, b) in enumerate(zip(net.weights, net.biases)):
        s = W @ y + b
        y = REFERENCE_PHI[net.activations[l]](s) if l < net.depth else s
    return y


# ---------------------------------------------------------------- file format


def test_npz_round_trip(tmp_path):
    net = random_network([4, 6, 5, 3], ["tanh", "relu"], weight_scale=2.0, rng=3,
                         input_low=[-1.0, 0.0, 0.5, -2.0], input_high=[1.0, 2.0, 0.75, 3.0])
    path = tmp_path / "net.npz"
    save_network(net, path)
    back = load_network(path)
    assert back.activations == net.activations
    assert len(back.weights) == len(net.weights)
    for a, b in zip(back.weights + back.biases, net.weights + net.biases):
        assert a.dtype == np.float64
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(back.input_low, net.input_low)
    np.testing.assert_array_equal(back.input_high, net.input_high)
    x = np.random.default_rng(0).uniform(net.input_low, net.input_high, (20, 4))
    np.testing.assert_array_equal(back.forward(x), net.forward(x))


def test_npz_defaults(tmp_path):
    """Missing biases are zeros, a missing input box is [0, 1], a scalar box broadcasts."""
    path = tmp_path / "bare.npz"
    np.savez(path, W1=np.ones((3, 2)), W2=np.ones((1, 3)), activations=np.array(["relu"]))
    net = load_network(path)
    assert net.sizes == [2, 3, 1]
    np.testing.assert_array_equal(net.biases[0], np.zeros(3))
    np.testing.assert_array_equal(net.biases[1], np.zeros(1))
    np.testing.assert_array_equal(net.input_low, [0.0, 0.0])
    np.testing.assert_array_equal(net.input_high, [1.0, 1.0])
    np.savez(path, W1=np.ones((3, 2)), W2=np.ones((1, 3)), activations=np.array(["relu"]),
             input_low=-2.0, input_high=5.0)
    net = load_network(path)
    np.testing.assert_array_equal(net.input_low, [-2.0, -2.0])
    np.testing.assert_array_equal(net.input_high, [5.0, 5.0])


def test_random_network_reproducible():
    a = random_network([5, 7, 4, 2], "sigmoid", 0.8, rng=42)
    b = random_network([5, 7, 4, 2], "sigmoid", 0.8, rng=42)
    c = random_network([5, 7, 4, 2], "sigmoid", 0.8, rng=43)
    d = random_network([5, 7, 4, 2], "sigmoid", 0.8, rng=np.random.default_rng(42))
    for x, y, z in zip(a.weights + a.biases, b.weights + b.biases, d.weights + d.biases):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, z)
        assert np.all(np.abs(x) <= 0.8)
    assert not np.array_equal(a.weights[0], c.weights[0])


# ---------------------------------------------------------------- forward pass


@pytest.mark.parametrize("act", ACTS)
def test_forward_equals_per_sample_reference(act):
    rng = np.random.default_rng(11)
    net = random_network([6, 9, 7, 3], act, weight_scale=3.0, rng=rng,
                         input_low=-2.0, input_high=2.0)
    X = rng.uniform(-2.0, 2.0, (50, 6))
    batched = net.forward(X)
    assert batched.shape == (50, 3)
    ref = np.array([reference_forward(net, x) for x in X])
    np.testing.assert_allclose(batched, ref, rtol=1e-12, atol=1e-12)
    # A single input gives the same values with a 1-D shape.
    np.testing.assert_array_equal(net.forward(X[7]), batched[7])


@pytest.mark.parametrize("act", ACTS)
def test_preactivation_rowwise_bit_identical(act):
    """One neuron alone (one row, or its own copy of the inputs) computes the batched bits.

    The first layer (64 x 80 weights) with 1000 samples is split into chunks by
    the batched pass; samples on both sides of a chunk boundary are checked.
    """
    rng = np.random.default_rng(5)
    net = random_network([80, 64, 30, 4], act, weight_scale=1.0, rng=rng)
    X = rng.uniform(0.0, 1.0, (1000, 80))
    ys = net.layer_outputs(X)
    phis = net.phis
    chunk = 4_000_000 // net.weights[0].size
    samples = sorted({0, 1, chunk - 1, chunk, chunk + 1, 999} & set(range(1000)))
    for l, (W, b) in enumerate(zip(net.weights, net.biases), start=1):
        act_l = phis[l - 1] if l <= net.depth else (lambda s: s)
        for k in samples:
            u = ys[l - 1][k]
            for j in range(W.shape[0]):
                s = preactivation(W[j], u, b[j])
                assert act_l(np.array([s]))[0] == ys[l][k, j]
            # Every receiver with its own copy of the inputs (the engines' form).
            per_receiver = preactivation(W, np.broadcast_to(u, W.shape).copy(), b)
            np.testing.assert_array_equal(act_l(per_receiver), ys[l][k])


# ---------------------------------------------------------------- activations


@pytest.mark.parametrize("act", ACTS)
def test_activation_matches_reference(act):
    s = np.linspace(-50, 50, 20001)
    np.testing.assert_allclose(get_activation(act)(s), REFERENCE_PHI[act](s), rtol=1e-14,
                               atol=1e-300)


@pytest.mark.parametrize("act", ACTS)
def test_lipschitz_constant_numeric(act):
    phi = ACTIVATIONS[act]
    assert phi.lipschitz == EXPECTED_K[act]
    s = np.linspace(-12.0, 12.0, 240_001)  # step 1e-4, 0 on the grid
    q = np.abs(np.diff(phi(s))) / np.diff(s)
    assert q.max() <= phi.lipschitz * (1 + 1e-9)
    assert q.max() >= phi.lipschitz * (1 - 1e-6)
    # Monotone non-decreasing, as the interval bounds assume.
    assert np.all(np.diff(phi(s)) >= 0.0)
    # The stated range holds.
    y = phi(np.linspace(-1e3, 1e3, 10001))
    assert np.all(y >= phi.low) and np.all(y <= phi.high)


@pytest.mark.parametrize("act", ACTS)
def test_local_slope_is_sound(act):
    """slope(a, b) >= every difference quotient of phi inside [a, b] (local Lipschitz)."""
    phi = ACTIVATIONS[act]
    rng = np.random.default_rng(17)
    centers = np.concatenate([rng.uniform(-8, 8, 300), [0.0, -2.0, 2.0, 0.0, -2.0, 2.0]])
    widths = np.concatenate([rng.exponential(1.5, 300), [1e-3, 1e-3, 1e-3, 4.0, 0.5, 0.5]])
    # Intervals touching the kinks from either side.
    a_extra = np.array([-3.0, -2.0, 2.0, -1.0, 1.0, -5.0])
    b_extra = np.array([-2.0, 0.5, 3.0, 0.0, 2.0, 0.0])
    a = np.concatenate([centers - widths / 2, a_extra])
    b = np.concatenate([centers + widths / 2, b_extra])
    slopes = np.asarray(phi.slope(a, b), dtype=float) * np.ones(len(a))
    assert slopes.shape == a.shape
    t = np.linspace(0.0, 1.0, 2001)
    for ai, bi, k in zip(a, b, slopes):
        s = ai + (bi - ai) * t
        s[-1] = bi
        y = phi(s)
        ds = np.diff(s)
        ok = ds > 0
        q = np.abs(np.diff(y))[ok] / ds[ok]
        # Rounding of phi(s) (a few ulps of |y|) divided by the step, e.g. tanh near +-1.
        noise = 4 * np.spacing(np.abs(y).max()) / ds[ok]
        assert np.all(q <= k * (1 + 1e-9) + noise), (act, ai, bi, k, q.max())
        assert k <= phi.lipschitz


# ---------------------------------------------------------------- graph


def test_graph_nodes_edges_weights():
    net = random_network([4, 6, 5, 3], "tanh", rng=9)
    g = to_graph(net)
    sizes = net.sizes
    assert g.number_of_nodes() == sum(sizes)
    assert g.number_of_edges() == sum(a * b for a, b in zip(sizes, sizes[1:]))
    for l, W in enumerate(net.weights, start=1):
        for j in range(W.shape[0]):
            for i in range(W.shape[1]):
                assert g.edges[(l - 1, i), (l, j)]["weight"] == W[j, i]
    for (layer, _), data in g.nodes(data=True):
        assert data["layer"] == layer
    assert all(v[0] == u[0] + 1 for u, v in g.edges)


# ---------------------------------------------------------------- scikit-learn


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def _fit(model, X, y):
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    return model


@pytest.mark.parametrize("act", ["logistic", "tanh", "relu"])
def test_sklearn_classifier(digits, act):
    from sklearn.neural_network import MLPClassifier

    from neurosim.data.network import from_sklearn

    X, y = digits
    model = _fit(MLPClassifier(hidden_layer_sizes=(20, 12), activation=act, random_state=0,
                               max_iter=25), X, y)
    net = from_sklearn(model)
    assert net.sizes == [64, 20, 12, 10]
    assert set(net.activations) == {"sigmoid" if act == "logistic" else act}
    pred = model.classes_[np.argmax(net.forward(X), axis=1)]
    np.testing.assert_array_equal(pred, model.predict(X))


def test_sklearn_binary_classifier(digits):
    from sklearn.neural_network import MLPClassifier

    from neurosim.data.network import from_sklearn

    X, y = digits
    model = _fit(MLPClassifier(hidden_layer_sizes=(8,), random_state=1, max_iter=20), X, y % 2)
    net = from_sklearn(model)
    assert net.sizes == [64, 8, 1]
    pred = model.classes_[(net.forward(X)[:, 0] > 0).astype(int)]
    np.testing.assert_array_equal(pred, model.predict(X))


def test_sklearn_regressor(digits):
    from sklearn.neural_network import MLPRegressor

    from neurosim.data.network import from_sklearn

    X, y = digits
    targets = np.stack([y / 9.0, X[:, :8].mean(axis=1)], axis=1)
    model = _fit(MLPRegressor(hidden_layer_sizes=(16, 8), activation="relu", random_state=0,
                              max_iter=30), X, targets)
    net = from_sklearn(model)
    np.testing.assert_allclose(net.forward(X), model.predict(X), rtol=1e-9, atol=1e-9)


def test_convert_cli_round_trip(digits, tmp_path, capsys):
    import joblib
    from sklearn.neural_network import MLPClassifier

    X, y = digits
    model = _fit(MLPClassifier(hidden_layer_sizes=(16,), activation="tanh", random_state=2,
                               max_iter=20), X, y)
    src, out = tmp_path / "model.joblib", tmp_path / "net.npz"
    joblib.dump(model, src)
    assert main(["convert", str(src), str(out)]) == 0
    assert "net.npz" in capsys.readouterr().out
    net = load_network(out)
    assert net.activations == ("tanh",)
    np.testing.assert_array_equal(net.input_low, np.zeros(64))
    np.testing.assert_array_equal(net.input_high, np.ones(64))
    np.testing.assert_array_equal(np.argmax(net.forward(X), axis=1), model.predict(X))
    # The input box options reach the file.
    assert main(["convert", str(src), str(out), "--input-low", "-1", "--input-high", "2"]) == 0
    net = load_network(out)
    np.testing.assert_array_equal(net.input_low, np.full(64, -1.0))
    np.testing.assert_array_equal(net.input_high, np.full(64, 2.0))


def test_make_network_refuses_bad_input():
    from neurosim.errors import InputError

    with pytest.raises(InputError, match="W2"):
        make_network([np.ones((3, 2)), np.ones((1, 4))], activations="relu")
    with pytest.raises(InputError, match="activations"):
        make_network([np.ones((3, 2)), np.ones((1, 3))], activations="swish")
    with pytest.raises(InputError, match="W1"):
        make_network([np.full((3, 2), np.nan), np.ones((1, 3))], activations="relu")
