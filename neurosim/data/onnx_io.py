"""ONNX models in and out: a chain of ONNX nodes as a Network, and a Network as ONNX.

Reading needs only the `onnx` package (no runtime). A model is read as a
chain from its one input: `Gemm`, or `MatMul` followed by `Add` of a
constant, makes a layer; `Relu`, `Sigmoid`, `Tanh` or `HardSigmoid` between
two layers is that hidden layer's activation (no activation, or `Identity`,
is `identity`). `Flatten`/`Reshape` of the input, `Identity`, `Dropout` and
float `Cast` pass values through. A final `Softmax`, `LogSoftmax` or
`Sigmoid` is dropped, since a neurosim network's outputs are the logits
before it; so is a label head after it (`ArgMax`, `ZipMap`, ... as
skl2onnx writes). Anything else (convolution, a skip connection, an
unfolded batch normalization, an unknown op) is refused with an InputError
naming the node and its op.

The input box has no place in ONNX: the writer keeps it in the model's
metadata (`neurosim.input_low`, `neurosim.input_high`, JSON lists), the
reader takes it from there, else [0, 1].
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from neurosim.data.network import Network, make_network
from neurosim.errors import InputError

Array = np.ndarray

AFFINE = {"Gemm", "MatMul"}
# ONNX op -> neurosim activation, for a hidden layer.
HIDDEN = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "HardSigmoid": "hard_sigmoid"}
# Monotone squashing of the outputs: the logits before it keep the argmax (and the sign).
FINAL = {"Softmax", "LogSoftmax", "Sigmoid"}
PASS = {"Identity", "Dropout", "Cast"}
# What may follow the final Softmax/Sigmoid: turning probabilities into labels.
HEAD = {"ArgMax", "ZipMap", "ArrayFeatureExtractor", "Cast", "Reshape", "Identity", "Flatten",
        "Squeeze", "Unsqueeze", "Concat", "Sub"}
FLOAT_TYPES = {1, 11}  # TensorProto.FLOAT, DOUBLE
# neurosim's hard_sigmoid is clip(0.25 s + 0.5, 0, 1): ONNX HardSigmoid's alpha and beta.
HARD_SIGMOID = (0.25, 0.5)
WHY = {
    "Conv": "convolution is not a fully connected layer",
    "ConvTranspose": "convolution is not a fully connected layer",
    "BatchNormalization": "batch normalization not folded into the layer before it",
}
OPSET = 17
IR_VERSION = 8  # the IR of opset 17: runtimes from 2022 on read it


def _onnx(source: str) -> ModuleType:
    try:
        import onnx
        import onnx.numpy_helper  # noqa: F401
    except ImportError:
        raise InputError(source, None, "ONNX needs the onnx package: pip install onnx "
                         "(or the [onnx] extra of neurosim)") from None
    return onnx


def read_onnx(path: str | Path, input_low: Array | float | None = None,
              input_high: Array | float | None = None) -> tuple[Network, list[str]]:
    """The network of an ONNX model file, and notes on what was dropped.

    input_low/input_high override the input box (shape () or (N_0,)); by
    default it is the one neurosim wrote into the model, else [0, 1].
    """
    path = Path(path)
    src = str(path)
    onnx = _onnx(src)
    if not path.is_file():
        raise InputError(src, None, "model file not found")
    try:
        model = onnx.load(src)
    except Exception as err:  # protobuf raises its own DecodeError, and others
        raise InputError(src, None, f"not a readable ONNX model ({err})") from None
    weights, biases, acts, notes = _Chain(src, model, onnx).read()
    meta = {p.key: p.value for p in model.metadata_props}
    n0 = weights[0].shape[1]
    lo = _box(src, meta, "input_low", input_low, 0.0, n0)
    hi = _box(src, meta, "input_high", input_high, 1.0, n0)
    return make_network(weights, biases, acts, lo, hi, source=src), notes


def _box(src: str, meta: dict[str, str], name: str, given, default: float, n0: int):
    if given is not None:
        return given
    text = meta.get(f"neurosim.{name}")
    if text is None:
        return default
    try:
        value = json.loads(text)
        # true/false are no bounds: np.asarray would read them as 1.0 and 0.0
        if any(isinstance(v, bool) for v in np.ravel(np.asarray(value, dtype=object))):
            raise TypeError
        box = np.asarray(value, dtype=float)
    except (ValueError, TypeError):
        raise InputError(src, f"neurosim.{name}", "metadata is not a list of numbers") from None
    if box.ndim > 1 or (box.ndim == 1 and box.shape != (n0,)):
        raise InputError(src, f"neurosim.{name}", f"metadata of shape {box.shape}, expected "
                         f"a number or {n0} of them (one per input)")
    return box


class _Chain:
    """One pass over the nodes (ONNX keeps them in topological order)."""

    def __init__(self, src: str, model: Any, onnx: ModuleType) -> None:
        self.src, self.onnx, self.graph = src, onnx, model.graph
        self.consts: dict[str, Array] = {
            t.name: onnx.numpy_helper.to_array(t) for t in self.graph.initializer}
        self.consumers: dict[str, list[Any]] = {}
        for node in self.graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.weights: list[Array] = []
        self.biases: list[Array] = []
        self.acts: list[str] = []
        self.notes: list[str] = []
        self.stage = "input"  # input -> affine <-> activated
        self.head: set[str] | None = None  # set once the final Softmax/Sigmoid is dropped

    def read(self) -> tuple[list[Array], list[Array], list[str], list[str]]:
        inputs = [i for i in self.graph.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise InputError(self.src, "graph inputs",
                             f"{len(inputs)} inputs; a feed-forward network has one")
        self.current = inputs[0].name
        self.shape = _dims(inputs[0])  # None entries: unknown sizes; None: unknown rank
        for index, node in enumerate(self.graph.node):
            self.node, self.index = node, index
            self._step(node)
        if not self.weights:
            raise InputError(self.src, None, "no Gemm or MatMul node: not a feed-forward network")
        ends = {self.current} | (self.head or set())
        for out in self.graph.output:
            if out.name not in ends:
                raise InputError(self.src, f"output {out.name!r}",
                                 "is not computed from the last layer (a branch of the graph)")
        biases = [np.zeros(W.shape[0]) if b is None else b
                  for W, b in zip(self.weights, self.biases, strict=True)]
        return self.weights, biases, self.acts, self.notes

    def refuse(self, message: str) -> InputError:
        node = self.node
        name = repr(node.name) if node.name else f"#{self.index}"
        op = f"{node.domain}.{node.op_type}" if node.domain not in ("", "ai.onnx") \
            else node.op_type
        return InputError(self.src, f"node {name} ({op})", message)

    def _step(self, node) -> None:
        op, ins = node.op_type, [i for i in node.input if i]
        dynamic = [i for i in ins if i not in self.consts]
        if not dynamic:
            self._fold(node, ins)
            return
        if node.domain not in ("", "ai.onnx", "ai.onnx.ml"):
            raise self.refuse("unknown op (a custom domain)")
        if self.head is not None:
            if op not in HEAD or not set(dynamic) <= self.head:
                raise self.refuse("after the final Softmax/Sigmoid only a label head (ArgMax, "
                                  "ZipMap, Cast, ...) is accepted")
            self.head.update(node.output)
            return
        if len(dynamic) > 1:
            raise self.refuse(f"combines two activations ({', '.join(dynamic)}): "
                              "a skip connection (neurosim reads a plain chain of layers)")
        if dynamic[0] != self.current:
            raise self.refuse(f"reads {dynamic[0]!r}, not the last layer's output: "
                              "a branch or skip connection")
        if op in AFFINE:
            self._affine(node)
        elif op == "Add":
            self._bias(node)
        elif op in HIDDEN or op in FINAL:
            self._activation(node)
        elif op in ("Flatten", "Reshape"):
            self._flatten(node)
        elif op in PASS:
            if op == "Cast" and self._attr("to", 1) not in FLOAT_TYPES:
                raise self.refuse("casts to a non-float type")
            if op == "Dropout" and len(ins) > 2 and \
                    np.any(np.asarray(self.consts.get(ins[2], True))):
                raise self.refuse("dropout in training mode drops signals at random: "
                                  "export the model in inference mode")
        else:
            raise self.refuse(WHY.get(op, "unsupported op") + "; neurosim reads chains of "
                              "Gemm or MatMul+Add with Relu, Sigmoid, Tanh, HardSigmoid")
        self.current = node.output[0]

    def _attr(self, name: str, default):
        for a in self.node.attribute:
            if a.name == name:
                return self.onnx.helper.get_attribute_value(a)
        return default

    def _fold(self, node, ins: list[str]) -> None:
        """A node of constants only (Constant, or a weight's Transpose left unfolded)."""
        from onnx.reference import ReferenceEvaluator

        try:
            outs = ReferenceEvaluator(node).run(None, {i: self.consts[i] for i in ins})
        except Exception as err:
            raise self.refuse(f"cannot compute this constant ({err})") from None
        self.consts.update(zip(node.output, outs))

    def _affine(self, node) -> None:
        op = node.op_type
        if len(node.input) < 2 or not node.input[1]:
            raise self.refuse("no weights (input B)")
        if node.input[0] != self.current:
            raise self.refuse("the weights come first: expected the activations as input A")
        B = self._numbers(node.input[1], "weights")
        if B.ndim != 2:
            raise self.refuse(f"weights of shape {B.shape}, expected 2-D")
        if op == "Gemm":
            if self._attr("transA", 0):
                raise self.refuse("transA = 1: the input would be transposed")
            alpha, beta = float(self._attr("alpha", 1.0)), float(self._attr("beta", 1.0))
            # Gemm computes A B' + C with A (n, N_{l-1}); W^(l) is B'^T, (N_l, N_{l-1}).
            W = B if self._attr("transB", 0) else B.T
            W = W if alpha == 1.0 else alpha * W
        else:
            W, beta = B.T, 1.0
        if self.stage == "input":
            self._check_input(W.shape[1])
        elif W.shape[1] != self.weights[-1].shape[0]:
            raise self.refuse(f"weights {B.shape} do not chain: the layer before has "
                              f"{self.weights[-1].shape[0]} neurons")
        if self.stage == "affine":  # two layers with nothing between: an identity layer
            self.acts.append("identity")
        self.weights.append(np.ascontiguousarray(W))
        self.biases.append(None)  # no bias yet (zeros); kept None so a -0.0 bias stays -0.0
        self.stage = "affine"
        if op == "Gemm" and len(node.input) > 2 and node.input[2]:
            self._add_bias(self._numbers(node.input[2], "bias"), beta)

    def _check_input(self, n_in: int) -> None:
        if self.shape is None:
            return
        if len(self.shape) not in (1, 2):  # (features,) as exported from one sample, or batched
            raise self.refuse(f"the input has shape {self._show(self.shape)}: a layer needs "
                              "(batch, features); flatten it first")
        if self.shape[-1] is not None and self.shape[-1] != n_in:
            raise self.refuse(f"weights take {n_in} inputs, the model's input has "
                              f"{self.shape[-1]}")

    @staticmethod
    def _show(shape) -> str:
        return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"

    def _bias(self, node) -> None:
        if self.stage != "affine":
            raise self.refuse("adds a constant to something other than a layer's Gemm/MatMul")
        other = next(i for i in node.input if i != self.current)
        self._add_bias(self._numbers(other, "bias"), 1.0)

    def _numbers(self, name: str, what: str) -> Array:
        """The constant `name` as a float array (a refusal for strings and the like, and
        for booleans, which a cast would read as 1.0 and 0.0)."""
        c = np.asarray(self.consts[name])
        if c.dtype.kind not in "iuf":
            raise self.refuse(f"{what} {name!r} of type {c.dtype}, not numbers")
        return c.astype(float)

    def _add_bias(self, c, scale: float) -> None:
        n = self.weights[-1].shape[0]
        c = np.asarray(c, dtype=float)
        if c.size not in (1, n) or (c.ndim == 2 and c.shape[0] != 1) or c.ndim > 2:
            raise self.refuse(f"bias of shape {c.shape} for a layer of {n} neurons")
        c = np.broadcast_to(c.reshape(-1), (n,))
        c = c.copy() if scale == 1.0 else scale * c
        self.biases[-1] = c if self.biases[-1] is None else self.biases[-1] + c

    def _activation(self, node) -> None:
        op = node.op_type
        if self.stage != "affine":
            raise self.refuse("an activation not right after a Gemm or MatMul layer")
        if self._feeds_a_layer(node.output[0]):
            if op not in HIDDEN:
                raise self.refuse("inside the network: it mixes the neurons of a layer, "
                                  "an activation acts on each alone")
            if op == "HardSigmoid":
                ab = (float(self._attr("alpha", 0.2)), float(self._attr("beta", 0.5)))
                if ab != HARD_SIGMOID:
                    raise self.refuse(
                        f"alpha {ab[0]:.6g}, beta {ab[1]:.6g}: neurosim's hard_sigmoid is "
                        "clip(0.25 s + 0.5, 0, 1), i.e. alpha 0.25, beta 0.5")
            self.acts.append(HIDDEN[op])
            self.stage = "activated"
            return
        if op not in FINAL:
            raise self.refuse("an activation on the outputs: neurosim's output layer is linear "
                              "(only a final Softmax, LogSoftmax or Sigmoid is dropped)")
        if op != "Sigmoid" and self._attr("axis", -1) not in (1, -1):
            raise self.refuse("a Softmax across the batch (axis 0)")
        label = "argmax" if op != "Sigmoid" else "sign (p > 0.5 is logit > 0)"
        name = node.name or f"#{self.index}"
        self.notes.append(f"dropped the final {op} (node {name}): neurosim's outputs are the "
                          f"logits before it, with the same {label}")
        self.head = set(node.output)

    def _feeds_a_layer(self, tensor: str) -> bool:
        """Whether a Gemm/MatMul is downstream of `tensor`."""
        seen, todo = set(), [tensor]
        while todo:
            for node in self.consumers.get(todo.pop(), []):
                if node.op_type in AFFINE:
                    return True
                new = [o for o in node.output if o not in seen]
                seen.update(new)
                todo += new
        return False

    def _flatten(self, node) -> None:
        if self.stage != "input":
            raise self.refuse("only the model's input may be flattened or reshaped")
        shape = self.shape
        n = None if shape is None or any(d is None for d in shape[1:]) \
            else int(np.prod(shape[1:], dtype=np.int64))
        if node.op_type == "Flatten":
            if self._attr("axis", 1) != 1:
                raise self.refuse("flattens the batch axis (axis must be 1)")
        else:
            target = [int(d) for d in np.asarray(self.consts[node.input[1]]).reshape(-1)]
            batch = None if shape is None else shape[0]
            if len(target) != 2 or target[1] == 0 or (target[1] == -1 and target[0] == -1) or \
                    (target[0] > 0 and target[0] != batch):
                # A fixed first dimension other than the input's batch mixes samples.
                raise self.refuse(f"reshapes the input to {target}: expected (batch, features)")
            if target[1] > 0:
                if n is not None and target[1] != n:
                    raise self.refuse(f"{target[1]} features from an input of "
                                      f"{self._show(shape)}")
                n = target[1]
        batch = None if shape is None else shape[0]
        self.shape = [batch, n]


def _dims(value_info) -> list[int | None] | None:
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
            for d in t.shape.dim]


ONNX_OPS = {"sigmoid": ("Sigmoid", {}), "tanh": ("Tanh", {}), "relu": ("Relu", {}),
            "identity": ("Identity", {}),
            "hard_sigmoid": ("HardSigmoid", dict(zip(("alpha", "beta"), HARD_SIGMOID)))}


def write_onnx(net: Network, path: str | Path, float32: bool = False) -> None:
    """Write `net` as an ONNX model (opset 17): one Gemm (transB = 1) and activation per layer.

    Input "input" (batch, N_0), output "logits" (batch, N_{L+1}). In float64
    (the default) reading it back gives the same arrays bit for bit; float32
    runs in more runtimes (onnxruntime has no float64 HardSigmoid) but
    rounds the weights.
    """
    path = Path(path)
    onnx = _onnx(str(path))
    from onnx import TensorProto, helper, numpy_helper

    dtype, elem = (np.float32, TensorProto.FLOAT) if float32 else (np.float64, TensorProto.DOUBLE)
    nodes, inits, x = [], [], "input"
    for l, (W, b) in enumerate(zip(net.weights, net.biases, strict=True), start=1):
        inits += [numpy_helper.from_array(W.astype(dtype), f"W{l}"),
                  numpy_helper.from_array(b.astype(dtype), f"b{l}")]
        s = f"s{l}" if l <= net.depth else "logits"
        nodes.append(helper.make_node("Gemm", [x, f"W{l}", f"b{l}"], [s], name=f"layer{l}",
                                      transB=1))
        if l <= net.depth:
            op, attrs = ONNX_OPS[net.activations[l - 1]]
            x = f"y{l}"
            nodes.append(helper.make_node(op, [s], [x], name=f"phi{l}", **attrs))
    graph = helper.make_graph(
        nodes, "neurosim", [helper.make_tensor_value_info("input", elem, ["batch", net.sizes[0]])],
        [helper.make_tensor_value_info("logits", elem, ["batch", net.sizes[-1]])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="neurosim")
    model.ir_version = IR_VERSION
    # repr of a float64 reads back as the same float: the box survives the round trip exactly.
    helper.set_model_props(model, {
        "neurosim.input_low": json.dumps(net.input_low.tolist()),
        "neurosim.input_high": json.dumps(net.input_high.tolist())})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
