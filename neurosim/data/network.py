"""The feed-forward network (docs/model.md) as plain arrays, its file format and its graph.

Layer 0 holds the N_0 inputs, layers 1..L are hidden (activation phi_l), layer
L+1 is linear. ``weights[l-1]`` is W^(l) with shape (N_l, N_{l-1}): row j holds
the synapses *into* neuron j of layer l.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from neurosim.data.activations import ACTIVATIONS, SKLEARN_NAMES, Activation, get_activation
from neurosim.errors import InputError

if TYPE_CHECKING:
    import networkx as nx

Array = np.ndarray


def preactivation(W: Array, u: Array, b: Array | float) -> Array:
    """s = W u + b, summed so that every engine gets the same float64 bits.

    `u` broadcasts against `W` (shape (N_l, N_{l-1})): a vector (N_{l-1},) the
    whole layer receives, or a matrix (N_l, N_{l-1}) when each receiver uses
    its own values (missing signals as 0, Byzantine values). The sum runs
    along the last, contiguous axis, so the value a neuron computes alone
    (one row) is bit-identical to the one the batched forward pass computes;
    a BLAS product would not promise that.
    """
    # order="C": a Fortran-ordered W (e.g. a transposed sklearn matrix) would
    # otherwise give a product summed in another order.
    return np.multiply(W, u, order="C").sum(axis=-1) + b


@dataclass(frozen=True, eq=False)
class Network:
    """Weights, biases, hidden activations and the input domain.

    weights: W^(1)..W^(L+1), shapes (N_l, N_{l-1}).
    biases: b^(1)..b^(L+1), shapes (N_l,).
    activations: names of phi_1..phi_L.
    input_low, input_high: the input box, shape (N_0,).

    Build it with `make_network`, which checks shapes and values.
    """

    weights: tuple[Array, ...]
    biases: tuple[Array, ...]
    activations: tuple[str, ...]
    input_low: Array
    input_high: Array

    @property
    def depth(self) -> int:
        """L, the number of hidden layers."""
        return len(self.activations)

    @property
    def sizes(self) -> list[int]:
        """[N_0, N_1, ..., N_{L+1}]."""
        return [self.weights[0].shape[1]] + [W.shape[0] for W in self.weights]

    @property
    def phis(self) -> list[Activation]:
        return [get_activation(a) for a in self.activations]

    @property
    def n_weights(self) -> int:
        return sum(W.size for W in self.weights)

    def layer_outputs(self, x: Array) -> list[Array]:
        """[y^(0), ..., y^(L+1)] for inputs x of shape (n, N_0) or (N_0,).

        Each entry has shape (n, N_l) (or (N_l,) for a single input).
        """
        y = np.asarray(x, dtype=float)
        ys = [y]
        phis = self.phis
        for l, (W, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            s = _batched_preactivation(W, y, b)
            y = phis[l](s) if l < self.depth else s
            ys.append(y)
        return ys

    def forward(self, x: Array) -> Array:
        """F(x): outputs of shape (n, N_{L+1}) for x of shape (n, N_0)."""
        return self.layer_outputs(x)[-1]


def _batched_preactivation(W: Array, y: Array, b: Array) -> Array:
    if y.ndim == 1:
        return preactivation(W, y, b)
    # Chunk the samples so that the (chunk, N_l, N_{l-1}) product stays near the cache:
    # 1M products (8 MB) ran a 784-256-128-10 pass 1.4-1.6x faster than 4M.
    chunk = max(1, 1_000_000 // max(1, W.size))
    return np.concatenate(
        [preactivation(W, y[i : i + chunk, None, :], b) for i in range(0, len(y), chunk)]
    ) if len(y) else np.empty((0, W.shape[0]))


def check_network(net: Network, source: str = "network") -> None:
    """Raise InputError naming the array if the network is not well formed."""
    L = len(net.activations)
    if len(net.weights) != L + 1:
        raise InputError(
            source, "activations",
            f"{len(net.activations)} activations need {L + 1} weight matrices, got "
            f"{len(net.weights)}",
        )
    if len(net.biases) != L + 1:
        raise InputError(source, "b", f"expected {L + 1} bias vectors, got {len(net.biases)}")
    for name in net.activations:
        if name not in ACTIVATIONS:
            raise InputError(
                source, "activations",
                f"unknown activation {name!r} (known: {', '.join(sorted(ACTIVATIONS))})",
            )
    prev = None
    for l, (W, b) in enumerate(zip(net.weights, net.biases, strict=True), start=1):
        if W.ndim != 2 or W.size == 0:
            raise InputError(source, f"W{l}", f"must be a non-empty 2-D array, got shape {W.shape}")
        if prev is not None and W.shape[1] != prev:
            raise InputError(
                source, f"W{l}",
                f"shape {W.shape} does not chain: layer {l - 1} has {prev} neurons",
            )
        if b.shape != (W.shape[0],):
            raise InputError(source, f"b{l}", f"shape {b.shape}, expected ({W.shape[0]},)")
        for name, arr in ((f"W{l}", W), (f"b{l}", b)):
            if not np.all(np.isfinite(arr)):
                raise InputError(source, name, "contains NaN or inf")
        prev = W.shape[0]
    n0 = net.weights[0].shape[1]
    for name, arr in (("input_low", net.input_low), ("input_high", net.input_high)):
        if arr.shape != (n0,):
            raise InputError(source, name, f"shape {arr.shape}, expected ({n0},)")
        if not np.all(np.isfinite(arr)):
            raise InputError(source, name, "contains NaN or inf")
    if np.any(net.input_low > net.input_high):
        raise InputError(source, "input_low", "exceeds input_high")


def make_network(
    weights: Sequence[Array],
    biases: Sequence[Array | None] | None = None,
    activations: Sequence[str] | str = "sigmoid",
    input_low: Array | float = 0.0,
    input_high: Array | float = 1.0,
    source: str = "network",
) -> Network:
    """Build and check a Network from plain arrays (missing biases are zeros)."""
    ws = tuple(np.array(W, dtype=float, order="C") for W in weights)
    for l, W in enumerate(ws, start=1):  # before W.shape[0] is read below
        if W.ndim != 2 or W.size == 0:
            raise InputError(source, f"W{l}",
                             f"must be a non-empty 2-D array, got shape {W.shape}")
    bs_in = list(biases) if biases is not None else [None] * len(ws)
    bs = tuple(
        np.zeros(W.shape[0]) if b is None else np.array(b, dtype=float).reshape(-1)
        for W, b in zip(ws, bs_in, strict=False)
    )
    if isinstance(activations, str):
        activations = [activations] * (len(ws) - 1)
    n0 = ws[0].shape[1] if ws and ws[0].ndim == 2 else 0
    box = []
    for name, v in (("input_low", input_low), ("input_high", input_high)):
        try:
            box.append(np.broadcast_to(np.asarray(v, dtype=float), (n0,)).copy())
        except (ValueError, TypeError):
            raise InputError(source, name, f"shape {np.shape(v)}, expected a number or "
                             f"({n0},)") from None
    lo, hi = box
    net = Network(ws, bs, tuple(activations), lo, hi)
    check_network(net, source)
    return net


def random_network(
    sizes: Sequence[int],
    activation: Sequence[str] | str = "sigmoid",
    weight_scale: float = 0.5,
    rng: np.random.Generator | int | None = 0,
    input_low: Array | float = 0.0,
    input_high: Array | float = 1.0,
) -> Network:
    """Weights and biases uniform in [-weight_scale, weight_scale]; sizes = [N_0, ..., N_{L+1}]."""
    rng = np.random.default_rng(rng)
    ws = [rng.uniform(-weight_scale, weight_scale, (n, m)) for m, n in zip(sizes, sizes[1:])]
    bs = [rng.uniform(-weight_scale, weight_scale, n) for n in sizes[1:]]
    return make_network(ws, bs, activation, input_low, input_high)


def load_network(path: str | Path) -> Network:
    """Read a network .npz file; InputError naming the array if it is bad.

    A path ending in .onnx is read as an ONNX model (see `neurosim.data.onnx_io`).
    """
    path = Path(path)
    src = str(path)
    if not path.is_file():
        raise InputError(src, None, "network file not found")
    if path.suffix.lower() == ".onnx":
        from neurosim.data.onnx_io import read_onnx

        return read_onnx(path)[0]
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as err:  # numpy raises several types for a corrupt file
        raise InputError(src, None, f"not a readable .npz file ({err})") from None
    with data:
        keys = set(data.files)
        if "W1" not in keys:
            raise InputError(src, "W1", "missing array")
        n = 1
        while f"W{n + 1}" in keys:
            n += 1
        if "activations" not in keys:
            raise InputError(src, "activations", "missing array")
        ws = [_real_array(data, f"W{l}", src) for l in range(1, n + 1)]
        bs = [_real_array(data, f"b{l}", src) if f"b{l}" in keys else None
              for l in range(1, n + 1)]
        acts = _array(data, "activations", src)
        if acts.dtype.kind not in "US":
            raise InputError(src, "activations", "must be an array of strings")
        acts = [str(a) for a in np.atleast_1d(acts)]
        lo = _real_array(data, "input_low", src) if "input_low" in keys else 0.0
        hi = _real_array(data, "input_high", src) if "input_high" in keys else 1.0
        for k in sorted(keys - {"activations", "input_low", "input_high"}):
            if not (k[0] in "Wb" and k[1:].isdigit() and 1 <= int(k[1:]) <= n):
                raise InputError(src, k, f"unexpected array (layers are W1..W{n})")
    if ws[0].ndim != 2:  # the box's shape is read from W1's: name W1 first
        raise InputError(src, "W1", f"must be a non-empty 2-D array, got shape {ws[0].shape}")
    n0 = ws[0].shape[1]
    for name, v in (("input_low", lo), ("input_high", hi)):
        if np.ndim(v) not in (0, 1) or (np.ndim(v) == 1 and np.shape(v) != (n0,)):
            raise InputError(src, name, f"shape {np.shape(v)}, expected scalar or ({n0},)")
    return make_network(ws, bs, acts, lo, hi, source=src)


def _array(data, name: str, src: str) -> Array:
    try:
        return data[name]
    except Exception as err:  # e.g. an object array, which would need pickle
        raise InputError(src, name, f"cannot be read ({err})") from None


def _real_array(data, name: str, src: str) -> Array:
    """data[name] as float64, refused unless it holds real numbers (ints or floats):
    complex values would lose their imaginary part, strings and booleans are no weights."""
    arr = _array(data, name, src)
    if arr.dtype.kind not in "iuf":
        what = {"c": "complex numbers", "U": "strings", "S": "strings", "b": "booleans",
                "O": "Python objects"}.get(arr.dtype.kind, f"dtype {arr.dtype}")
        raise InputError(src, name, f"must hold real numbers, got {what}")
    return arr.astype(float)


def save_network(net: Network, path: str | Path) -> None:
    """Write `net` as an .npz network file, or as ONNX if `path` ends in .onnx."""
    if Path(path).suffix.lower() == ".onnx":
        from neurosim.data.onnx_io import write_onnx

        write_onnx(net, path)
        return
    arrays: dict[str, Array] = {}
    for l, (W, b) in enumerate(zip(net.weights, net.biases, strict=True), start=1):
        arrays[f"W{l}"] = W
        arrays[f"b{l}"] = b
    arrays["activations"] = np.array(net.activations, dtype=str)
    arrays["input_low"] = net.input_low
    arrays["input_high"] = net.input_high
    np.savez(path, **arrays)


def from_sklearn(model, input_low: Array | float = 0.0, input_high: Array | float = 1.0) -> Network:
    """A fitted MLPClassifier/MLPRegressor as a Network.

    sklearn stores ``coefs_[l]`` as (N_{l-1}, N_l), hence the transposes. A
    binary classifier's single logistic output is kept as its logit (the
    linear output layer); ``predict`` is then ``logit > 0``.
    """
    if not hasattr(model, "coefs_"):
        raise ValueError("the model is not a fitted scikit-learn MLP")
    act = SKLEARN_NAMES.get(model.activation)
    if act is None:
        raise ValueError(f"unsupported sklearn activation {model.activation!r}")
    ws = [np.asarray(c, dtype=float).T for c in model.coefs_]
    bs = [np.asarray(b, dtype=float) for b in model.intercepts_]
    return make_network(ws, bs, act, input_low, input_high)


def to_graph(net: Network) -> nx.DiGraph:
    """Neurons (layer, index) as nodes, synapses as edges with their `weight`."""
    import networkx as nx  # only here: networkx costs ~0.3 s to import

    g = nx.DiGraph()
    for l, n in enumerate(net.sizes):
        g.add_nodes_from(((l, i) for i in range(n)), layer=l)
    for l, W in enumerate(net.weights, start=1):
        rows, cols = np.nonzero(W)
        g.add_weighted_edges_from(
            ((l - 1, int(i)), (l, int(j)), float(W[j, i])) for j, i in zip(rows, cols)
        )
    return g
