"""Boolean arrays where numbers are wanted are refused, one line naming the file and the
key, exit 2, as complex ones are: a weight, a bias, an input box or an input of True/False
was read as 1.0/0.0 without a word (a mask saved by mistake in place of the array)."""

from __future__ import annotations

import numpy as np
import pytest
from cli_helpers import one_line_error

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

W = np.array([[1.0, -0.5, 0.25], [0.5, 2.0, -1.0]])  # 3 inputs, 2 outputs


def onnx_model(weights, low: str | None = None):
    """y = x @ weights (a 3-2 network), as a foreign tool may write it (not checked)."""
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")], "g",
        [helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["n", 3])],
        [helper.make_tensor_value_info("y", TensorProto.DOUBLE, ["n", 2])],
        [numpy_helper.from_array(weights, "W")])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    if low is not None:
        helper.set_model_props(m, {"neurosim.input_low": low})
    return m


def test_the_onnx_model_reads_with_numbers(tmp_path):
    """The same model with float weights and a numeric box is read (the refusals below are
    the booleans', not the model's)."""
    from neurosim.data.network import load_network

    path = tmp_path / "m.onnx"
    onnx.save(onnx_model(W.T.copy(), "[0, 0.5, 0]"), str(path))
    net = load_network(path)
    assert np.array_equal(net.weights[0], W) and list(net.input_low) == [0, 0.5, 0]


def test_boolean_onnx_weights_are_refused(tmp_path, capsys):
    path = tmp_path / "m.onnx"
    onnx.save(onnx_model(W.T > 0), str(path))
    err = one_line_error(capsys, ["bound", path], path, "node 'mm' (MatMul)", "'W'")
    assert "bool" in err
    one_line_error(capsys, ["convert", path, tmp_path / "n.npz"], path, "'W'")
    assert not (tmp_path / "n.npz").exists()


def test_a_boolean_onnx_input_box_is_refused(tmp_path, capsys):
    path = tmp_path / "m.onnx"
    onnx.save(onnx_model(W.T.copy(), "[true, false, true]"), str(path))
    one_line_error(capsys, ["bound", path], path, "neurosim.input_low")


@pytest.mark.parametrize("key", ["W1", "b2", "input_high"])
def test_boolean_npz_arrays_are_refused(tmp_path, capsys, key):
    from neurosim.data.network import random_network, save_network

    save_network(random_network([3, 4, 2], "sigmoid", 0.5, rng=1), tmp_path / "ok.npz")
    arrays = dict(np.load(tmp_path / "ok.npz"))
    arrays[key] = arrays[key] > 0
    path = tmp_path / "net.npz"
    np.savez(path, **arrays)
    one_line_error(capsys, ["bound", path], path, key, "booleans")


@pytest.mark.parametrize("key", ["file", "labels"])
def test_boolean_input_files_are_refused(tmp_path, capsys, key):
    x = np.array([[0.0, 1.0, 0.5], [1.0, 0.0, 0.25]])
    y = np.array([0, 1])
    np.save(tmp_path / "x.npy", x.round().astype(bool) if key == "file" else x)
    np.save(tmp_path / "y.npy", y.astype(bool) if key == "labels" else y)
    path = tmp_path / "s.toml"
    path.write_text('trials = 2\n[network]\nsizes = [3, 4, 2]\n[inputs]\nkind = "file"\n'
                    'file = "x.npy"\nlabels = "y.npy"\n')
    err = one_line_error(capsys, ["run", path, "--out", tmp_path / "out"], path,
                         f"inputs.{key}", "bool")
    assert str(tmp_path / ("x.npy" if key == "file" else "y.npy")) in err
    assert not (tmp_path / "out").exists()
