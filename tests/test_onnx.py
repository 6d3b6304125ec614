"""ONNX in and out, without a deep-learning framework.

Models are built node by node with onnx.helper (and one by skl2onnx from a
fitted MLPClassifier); what neurosim reads is checked against the weights
that went in and against onnxruntime running the same file.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from neurosim.data.network import load_network, random_network, save_network
from neurosim.data.onnx_io import read_onnx, write_onnx
from neurosim.errors import InputError
from neurosim.front.cli import main

D, F = TensorProto.DOUBLE, TensorProto.FLOAT


def model(nodes, inits: dict, in_shape, out_shape, elem=D, inp="x", out="y", opset=17):
    """A checked ModelProto of `nodes`; `inits` name -> array (cast to the model's type)."""
    dtype = np.float64 if elem == D else np.float32
    tensors = [numpy_helper.from_array(np.asarray(v, dtype=dtype if np.asarray(v).dtype.kind == "f"
                                                  else None), k) for k, v in inits.items()]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(inp, elem, in_shape)],
                              [helper.make_tensor_value_info(out, elem, out_shape)], tensors)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    return m


def save(tmp_path, m, name="model.onnx"):
    path = tmp_path / name
    onnx.save(m, str(path))
    return path


def run_ort(path, x):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def node(op, ins, outs, name=None, **attrs):
    return helper.make_node(op, ins, outs, name=name or f"{op.lower()}_{outs[0]}", **attrs)


RNG = np.random.default_rng(13)
SIZES = [5, 4, 3, 2]
WS = [RNG.uniform(-1.5, 1.5, (n, m)) for m, n in zip(SIZES, SIZES[1:])]
BS = [RNG.uniform(-1, 1, n) for n in SIZES[1:]]
X = RNG.uniform(-2, 2, (40, 5))

# ONNX op (attrs) -> neurosim name; identity twice: an Identity node and nothing at all.
OPS = [("Relu", {}, "relu"), ("Sigmoid", {}, "sigmoid"), ("Tanh", {}, "tanh"),
       ("HardSigmoid", {"alpha": 0.25, "beta": 0.5}, "hard_sigmoid"),
       ("Identity", {}, "identity"), (None, {}, "identity")]


def gemm_chain(op, attrs, trans_b: int, elem=D):
    """5-4-3-2 of Gemm layers with `op` between them; weights stored as transB says."""
    nodes, inits, x = [], {}, "x"
    for l, (W, b) in enumerate(zip(WS, BS), start=1):
        inits[f"W{l}"], inits[f"b{l}"] = (W if trans_b else W.T), b
        s = "y" if l == len(WS) else f"s{l}"
        nodes.append(node("Gemm", [x, f"W{l}", f"b{l}"], [s], transB=trans_b))
        x = s
        if l < len(WS) and op is not None:
            x = f"a{l}"
            nodes.append(node(op, [s], [x], **attrs))
    return model(nodes, inits, ["n", 5], ["n", 2], elem)


@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("op,attrs,name", OPS, ids=lambda v: str(v) if isinstance(v, str) else "")
def test_gemm_chain_every_activation(tmp_path, op, attrs, name, trans_b):
    # onnxruntime has no float64 HardSigmoid: that model is float32 (its weights rounded).
    elem = F if op == "HardSigmoid" else D
    path = save(tmp_path, gemm_chain(op, attrs, trans_b, elem))
    net = load_network(path)
    assert net.activations == (name, name)
    cast = (lambda a: a.astype(np.float32).astype(float)) if elem == F else (lambda a: a)
    for W, b, W0, b0 in zip(net.weights, net.biases, WS, BS):
        np.testing.assert_array_equal(W, cast(W0))  # (N_l, N_{l-1}) whatever transB was
        np.testing.assert_array_equal(b, cast(b0))
    x = X.astype(np.float32) if elem == F else X
    np.testing.assert_allclose(net.forward(x.astype(float)), run_ort(path, x), rtol=0, atol=1e-6)
    assert np.ptp(net.forward(X)) > 0.1  # not a constant function that would match anything


def test_matmul_add_and_gemm_scaling(tmp_path):
    W1, W2 = WS[0], WS[1]
    nodes = [node("MatMul", ["x", "M1"], ["m1"]), node("Add", ["m1", "c1"], ["s1"]),
             node("Tanh", ["s1"], ["a1"]),
             node("MatMul", ["a1", "M2"], ["m2"]), node("Add", ["c2", "m2"], ["s2"]),  # bias first
             node("Sigmoid", ["s2"], ["a2"]),
             node("Gemm", ["a2", "W3", "b3"], ["y"], alpha=0.5, beta=2.0, transB=1)]
    inits = {"M1": W1.T, "c1": BS[0][None, :], "M2": W2.T, "c2": BS[1], "W3": WS[2],
             "b3": BS[2]}
    path = save(tmp_path, model(nodes, inits, ["n", 5], ["n", 2]))
    net = load_network(path)
    assert net.activations == ("tanh", "sigmoid")
    np.testing.assert_array_equal(net.weights[2], 0.5 * WS[2])
    np.testing.assert_array_equal(net.biases[2], 2.0 * BS[2])
    np.testing.assert_allclose(net.forward(X), run_ort(path, X), rtol=0, atol=1e-6)


def test_unfolded_weight_transpose_and_one_sample_input(tmp_path):
    # As a dynamo export can write nn.Linear: Transpose of the stored weight, MatMul, Add.
    nodes, inits, x = [], {}, "x"
    for l, (W, b) in enumerate(zip(WS, BS), start=1):
        inits[f"W{l}"], inits[f"b{l}"] = W, b
        nodes += [node("Transpose", [f"W{l}"], [f"Wt{l}"], perm=[1, 0]),
                  node("MatMul", [x, f"Wt{l}"], [f"m{l}"]),
                  node("Add", [f"m{l}", f"b{l}"], ["y" if l == len(WS) else f"s{l}"])]
        x = f"s{l}"
        if l < len(WS):
            nodes.append(node("Tanh", [x], [f"a{l}"]))
            x = f"a{l}"
    path = save(tmp_path, model(nodes, inits, [5], [2]))
    net = load_network(path)
    assert net.activations == ("tanh", "tanh")
    for W, W0 in zip(net.weights, WS):
        np.testing.assert_array_equal(W, W0)
    for x in X[:5]:
        np.testing.assert_allclose(net.forward(x), run_ort(path, x), rtol=0, atol=1e-6)


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


@pytest.mark.parametrize("final,squash", [
    ("Softmax", _softmax), ("LogSoftmax", lambda z: np.log(_softmax(z))), ("Sigmoid", _sigmoid)])
def test_final_squashing_is_dropped_and_said(tmp_path, capsys, final, squash):
    m = gemm_chain("Relu", {}, 1)
    last = m.graph.node[-1]
    last.output[0] = "logits"
    m.graph.node.append(node(final, ["logits"], ["y"], name="out"))
    path = save(tmp_path, m)
    net = load_network(path)
    assert net.activations == ("relu", "relu")
    np.testing.assert_allclose(squash(net.forward(X)), run_ort(path, X), rtol=0, atol=1e-6)
    assert main(["convert", str(path), str(tmp_path / "n.npz")]) == 0
    out = capsys.readouterr().out
    assert f"dropped the final {final} (node out)" in out and "logits" in out


def test_flatten_and_reshape_of_the_input(tmp_path):
    W = RNG.uniform(-1, 1, (3, 16))
    x4 = RNG.uniform(0, 1, (7, 1, 4, 4))
    flat = x4.reshape(7, 16)
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [-1, 16])
    cases = {
        "flatten": [node("Flatten", ["x"], ["f"], axis=1)],
        # The shape from a Constant node, as exporters often write it.
        "reshape": [helper.make_node("Constant", [], ["shape"], value=shape),
                    node("Reshape", ["x", "shape"], ["f"])],
    }
    for name, head in cases.items():
        nodes = head + [node("Gemm", ["f", "W"], ["y"], transB=1)]
        path = save(tmp_path, model(nodes, {"W": W}, ["n", 1, 4, 4], ["n", 3]), f"{name}.onnx")
        net = load_network(path)
        assert net.sizes == [16, 3]
        np.testing.assert_allclose(net.forward(flat), run_ort(path, x4), rtol=0, atol=1e-6)


def _error(capsys, argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("neurosim: error: ") and err.count("\n") == 1, err
    return err


def _bad_models():
    """name -> (model, node name and op the message must give)."""
    W, b = WS[0], BS[0]
    dense = [node("Gemm", ["x", "W", "b"], ["s"], transB=1)]
    out = node("Gemm", ["a", "W2", "b2"], ["y"], transB=1)
    two = {"W": W, "b": b, "W2": WS[1], "b2": BS[1]}
    yield "conv", model(
        [node("Conv", ["x", "K"], ["c"], name="conv1"), node("Flatten", ["c"], ["f"]),
         node("Gemm", ["f", "W"], ["y"], transB=1)],
        {"K": np.ones((2, 1, 3)), "W": np.ones((2, 6))}, ["n", 1, 5], ["n", 2]), "'conv1' (Conv)"
    yield "skip", model(
        dense + [node("Relu", ["s"], ["r"]), node("Gemm", ["r", "Wsq", "bsq"], ["t"], transB=1),
                 node("Add", ["t", "r"], ["a"], name="residual"), out],
        {**two, "Wsq": np.eye(4), "bsq": np.zeros(4)}, ["n", 5], ["n", 3]), "'residual' (Add)"
    yield "batchnorm", model(
        dense + [node("BatchNormalization", ["s", "g", "be", "mu", "var"], ["bn"], name="bn1"),
                 node("Relu", ["bn"], ["a"]), out],
        {**two, "g": np.ones(4), "be": np.zeros(4), "mu": np.zeros(4), "var": np.ones(4)},
        ["n", 5], ["n", 3]), "'bn1' (BatchNormalization)"
    yield "unknown op", model(
        dense + [node("LeakyRelu", ["s"], ["a"], name="leaky"), out], two, ["n", 5], ["n", 3]), \
        "'leaky' (LeakyRelu)"
    yield "hard_sigmoid 0.2", model(
        dense + [node("HardSigmoid", ["s"], ["a"], name="hs", alpha=0.2, beta=0.5), out], two,
        ["n", 5], ["n", 3]), "'hs' (HardSigmoid)"
    yield "relu on outputs", model(
        dense + [node("Relu", ["s"], ["y"], name="last")], {"W": W, "b": b}, ["n", 5],
        ["n", 4]), "'last' (Relu)"
    yield "softmax inside", model(
        dense + [node("Softmax", ["s"], ["a"], name="sm"), out], two, ["n", 5], ["n", 3]), \
        "'sm' (Softmax)"
    yield "branch", model(
        dense + [node("Relu", ["s"], ["r"]), node("Gemm", ["r", "W2", "b2"], ["y"], transB=1),
                 node("Sigmoid", ["s"], ["z"], name="side")], two, ["n", 5], ["n", 3]), \
        "'side' (Sigmoid)"
    yield "unflattened input", model(
        [node("MatMul", ["x", "M"], ["y"], name="mm")], {"M": W.T}, ["n", 2, 5], ["n", 2, 4]), \
        "'mm' (MatMul)"


@pytest.mark.parametrize("case", list(_bad_models()), ids=lambda c: c[0])
def test_unsupported_graphs_name_the_node(tmp_path, capsys, case):
    _, m, needle = case
    path = save(tmp_path, m)
    err = _error(capsys, ["convert", path, tmp_path / "n.npz"])
    assert f"{path}: node {needle}: " in err
    assert not (tmp_path / "n.npz").exists()


def test_unreadable_and_missing_onnx(tmp_path, capsys, monkeypatch):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00not a protobuf\xff" * 3)
    assert "not a readable ONNX model" in _error(capsys, ["convert", junk, tmp_path / "n.npz"])
    good = save(tmp_path, gemm_chain("Relu", {}, 1))
    assert "output must end in .npz or .onnx" in _error(capsys, ["convert", good,
                                                                 tmp_path / "n.txt"])
    monkeypatch.setitem(__import__("sys").modules, "onnx", None)  # as if not installed
    err = _error(capsys, ["convert", good, tmp_path / "n.npz"])
    assert "needs the onnx package" in err and "pip install onnx" in err


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu", "identity", "hard_sigmoid"])
def test_npz_to_onnx_and_back_is_identical(tmp_path, capsys, act):
    net = random_network([6, 5, 4, 3], act, 1.3, rng=7, input_low=-2.0,
                         input_high=np.linspace(0.1, 3.7, 6))
    npz, onx, back = tmp_path / "n.npz", tmp_path / "m.onnx", tmp_path / "back.npz"
    save_network(net, npz)
    assert main(["convert", str(npz), str(onx)]) == 0
    assert main(["convert", str(onx), str(back)]) == 0
    assert capsys.readouterr().out.count("wrote") == 2
    with np.load(npz) as a, np.load(back) as b:
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]), k
    x = np.random.default_rng(1).uniform(-2, 3.7, (30, 6))
    if act != "hard_sigmoid":  # onnxruntime has no float64 HardSigmoid
        np.testing.assert_allclose(run_ort(onx, x), net.forward(x), rtol=0, atol=1e-12)
    # float32 runs everywhere, to float32 precision.
    assert main(["convert", str(npz), str(tmp_path / "f.onnx"), "--float32"]) == 0
    np.testing.assert_allclose(run_ort(tmp_path / "f.onnx", x.astype(np.float32)),
                               net.forward(x), rtol=0, atol=1e-5)


def test_input_box_options_override_the_model(tmp_path):
    path = save(tmp_path, gemm_chain("Tanh", {}, 0))
    net, notes = read_onnx(path)
    assert notes == []
    assert (net.input_low == 0).all() and (net.input_high == 1).all()
    net, _ = read_onnx(path, -1.0, 2.0)
    assert (net.input_low == -1).all() and (net.input_high == 2).all()
    write_onnx(net, tmp_path / "w.onnx")
    again = load_network(tmp_path / "w.onnx")
    assert (again.input_low == -1).all() and (again.input_high == 2).all()


def test_scenario_loads_onnx_and_fault_free_matches_onnxruntime(tmp_path, capsys):
    from neurosim.data.scenario import load_scenario
    from neurosim.engines.des import simulate_des
    from neurosim.engines.plan import FiringRule, Planner
    from neurosim.setup import prepare

    path = save(tmp_path, gemm_chain("Sigmoid", {}, 1))
    np.save(tmp_path / "x.npy", X[:6] / 4 + 0.5)  # inside the [0, 1] box
    scn_path = tmp_path / "s.toml"
    scn_path.write_text('trials = 6\n[network]\nfile = "model.onnx"\n'
                        '[inputs]\nkind = "file"\nfile = "x.npy"\n')
    scn = load_scenario(scn_path)
    setup = prepare(scn)
    planner, rule = Planner(scn, setup.net, setup.inputs), FiringRule.from_scenario(scn, None)
    expected = run_ort(path, setup.inputs)
    for trial in range(scn.trials):
        plan = planner.plan(trial)
        out = simulate_des(setup.net, plan, rule).output
        np.testing.assert_allclose(out, expected[plan.input_index], rtol=0, atol=1e-6)
    assert main(["bound", str(path)]) == 0
    assert "network 5-4-3-2" in capsys.readouterr().out


@pytest.fixture(scope="module")
def digits_mlp():
    from neurosim.data.build import digits_split, train_digits

    _, X_test, _, _ = digits_split()
    return train_digits([24, 12], "relu", max_iter=80), X_test


def test_skl2onnx_digits_classifier(tmp_path, digits_mlp):
    from skl2onnx import to_onnx

    clf, X_test = digits_mlp
    # Default options: float32, a Softmax, then ArgMax / ZipMap label head.
    m32 = to_onnx(clf, X_test[:1].astype(np.float32))
    net32, notes = read_onnx(save(tmp_path, m32, "f32.onnx"))
    assert net32.sizes == [64, 24, 12, 10] and net32.activations == ("relu", "relu")
    assert len(notes) == 1 and "Softmax" in notes[0]
    np.testing.assert_array_equal(clf.classes_[net32.forward(X_test).argmax(axis=1)],
                                  clf.predict(X_test))
    # float64 weights: the same network as from_sklearn, and onnxruntime's probabilities.
    m64 = to_onnx(clf, X_test[:1].astype(np.float64), options={"zipmap": False})
    path = save(tmp_path, m64, "f64.onnx")
    net = load_network(path)
    pred = clf.classes_[net.forward(X_test).argmax(axis=1)]
    np.testing.assert_array_equal(pred, clf.predict(X_test))
    assert len(X_test) == 540
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    labels, proba = sess.run(None, {"X": X_test})
    np.testing.assert_allclose(_softmax(net.forward(X_test)), proba, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(labels, clf.predict(X_test))


def test_skl2onnx_binary_classifier(tmp_path):
    from skl2onnx import to_onnx
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    from neurosim.data.build import digits_split

    X_train, X_test, y_train, y_test = digits_split()
    clf = MLPClassifier((10,), activation="tanh", max_iter=60, random_state=0)
    with warnings.catch_warnings():  # not converged in 60 iterations: fine for this check
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train % 2)
    net, notes = read_onnx(save(tmp_path, to_onnx(clf, X_test[:1], options={"zipmap": False})))
    assert net.sizes == [64, 10, 1] and "Sigmoid" in notes[0]
    pred = clf.classes_[(net.forward(X_test)[:, 0] > 0).astype(int)]
    np.testing.assert_array_equal(pred, clf.predict(X_test))


def test_read_refuses_through_the_api(tmp_path):
    m = gemm_chain("Relu", {}, 1)
    m.graph.node[1].op_type = "Elu"
    with pytest.raises(InputError, match=r"node 'relu_a1' \(Elu\)"):
        load_network(save(tmp_path, m))


def _raw(nodes, inits, in_shape, out_shape):
    """A model the checker is not asked about (as a foreign tool might write it)."""
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", D, in_shape)],
                              [helper.make_tensor_value_info("y", D, out_shape)], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def _foreign_models():
    """name -> (model, what the one-line error must contain). Each was a traceback or was
    accepted as a network that does not compute what the model does."""
    W = numpy_helper.from_array(WS[0].T.copy(), "W")
    yield "string weights", _raw([node("MatMul", ["x", "W"], ["y"], name="mm")],
                                 [helper.make_tensor("W", TensorProto.STRING, [1], [b"a"])],
                                 ["n", 5], ["n", 4]), "node 'mm' (MatMul)"
    yield "Gemm of one input", _raw([node("Gemm", ["x"], ["y"], name="g")], [], ["n", 5],
                                    ["n", 4]), "node 'g' (Gemm)"
    yield "box of the wrong length", _with_box(
        _raw([node("MatMul", ["x", "W"], ["y"])], [W], ["n", 5], ["n", 4]), "[0, 0]", "[1, 1]"), \
        "neurosim.input_low"
    yield "box of two dimensions", _with_box(
        _raw([node("MatMul", ["x", "W"], ["y"])], [W], ["n", 5], ["n", 4]),
        "[[0, 0, 0, 0, 0]]", "[1, 1, 1, 1, 1]"), "neurosim.input_low"
    # Reshape (n, 5) -> (5, -1) mixes the samples of a batch of 5: not one sample per row.
    yield "reshape over the batch", _raw(
        [node("Reshape", ["x", "shape"], ["r"], name="rs"), node("MatMul", ["r", "W"], ["y"])],
        [numpy_helper.from_array(np.array([5, -1], dtype=np.int64), "shape"), W],
        ["n", 5], ["n", 4]), "node 'rs' (Reshape)"
    # Dropout in training mode drops signals at random: not a fixed network.
    yield "dropout in training mode", _raw(
        [node("MatMul", ["x", "W"], ["s"]),
         node("Dropout", ["s", "ratio", "training"], ["d"], name="drop"),
         node("MatMul", ["d", "W2"], ["y"])],
        [W, numpy_helper.from_array(WS[1].T.copy(), "W2"),
         numpy_helper.from_array(np.array(0.5), "ratio"),
         numpy_helper.from_array(np.array(True), "training")], ["n", 5], ["n", 3]), \
        "node 'drop' (Dropout)"


def _with_box(m, low, high):
    helper.set_model_props(m, {"neurosim.input_low": low, "neurosim.input_high": high})
    return m


@pytest.mark.parametrize("case", list(_foreign_models()), ids=lambda c: c[0])
def test_foreign_models_are_refused_in_one_line(tmp_path, capsys, case):
    _, m, needle = case
    path = save(tmp_path, m)
    err = _error(capsys, ["convert", path, tmp_path / "n.npz"])
    assert f"{path}: {needle}" in err, err
    assert not (tmp_path / "n.npz").exists()


def test_round_trip_keeps_signed_zeros_and_extremes_bit_for_bit(tmp_path, capsys):
    """npz -> onnx -> npz: every array bit for bit, -0.0, subnormals and 1e300 included
    (a bias of -0.0 came back as +0.0: the reader added it to a zero vector)."""
    from neurosim.data.network import make_network

    net = make_network([np.array([[-0.0, 5e-324, 1e300], [np.nextafter(1, 2), -1e-310, 3.0]]),
                        np.array([[1.0, -2.0]])], [np.array([0.1, -0.0]), np.array([-0.0])],
                       ["tanh"], np.array([-1e-9, -0.0, 0.0]), np.array([0.5, 1e-300, 0.0]))
    save_network(net, tmp_path / "a.npz")
    assert main(["convert", str(tmp_path / "a.npz"), str(tmp_path / "m.onnx")]) == 0
    assert main(["convert", str(tmp_path / "m.onnx"), str(tmp_path / "b.npz")]) == 0
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    assert sorted(a.files) == sorted(b.files)
    for k in a.files:
        assert a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes(), k
