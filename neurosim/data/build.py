"""From a validated Scenario to the plain data an experiment runs on.

This is the stage that needs the network: failure counts are checked against
layer sizes and quorums against the number of senders. Errors name the file
and the key.
"""

from __future__ import annotations

import warnings

import numpy as np

from neurosim.data.counts import Failures, failure_counts, per_layer
from neurosim.data.network import Network, load_network, random_network
from neurosim.data.quantize import total_precision
from neurosim.data.random_failures import check_random_failures
from neurosim.data.scenario import Scenario
from neurosim.data.training import is_trained, train_network, untrained_network
from neurosim.errors import InputError

Array = np.ndarray


def digits_split(test_fraction: float = 0.3, seed: int = 0) -> tuple[Array, Array, Array, Array]:
    """scikit-learn's bundled digits scaled to [0, 1]: X_train, X_test, y_train, y_test."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=test_fraction, random_state=seed, stratify=y)


def train_digits(hidden: list[int], activation: str = "sigmoid", seed: int = 0,
                 max_iter: int = 300, test_fraction: float = 0.3):
    """A scikit-learn MLPClassifier fitted on the digits training split (reproducible)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    sk_act = {"sigmoid": "logistic"}.get(activation, activation)
    X_train, _, y_train, _ = digits_split(test_fraction, seed)
    model = MLPClassifier(hidden_layer_sizes=tuple(hidden), activation=sk_act,
                          random_state=seed, max_iter=max_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    return model


def build_network(scn: Scenario, train: bool = True) -> Network:
    """The scenario's network. train=False: a network still to be trained
    ([network] train, not trained yet in this process) is given untrained, of its
    shape (`untrained_network`), for checks against the layer sizes only."""
    spec = scn.network
    try:
        if spec.file is not None:
            if not scn.path(spec.file).is_file():
                raise InputError(scn.source, "network.file",
                                 f"network file not found: {scn.path(spec.file)}")
            net = load_network(scn.path(spec.file))
        elif spec.sizes is not None:
            _check_weight_memory(scn, "network.sizes", spec.sizes)
            acts = spec.activation
            if isinstance(acts, list) and len(acts) != len(spec.sizes) - 2:
                raise InputError(scn.source, "network.activation",
                                 f"{len(acts)} names for {len(spec.sizes) - 2} hidden layers "
                                 f"(give one name or one per hidden layer)")
            rng = np.random.default_rng(np.random.SeedSequence([scn.seed, 0x6E6574]))
            net = random_network(spec.sizes, acts, spec.weight_scale, rng)
        else:
            # At least one input and one output: a lower bound on the fitted weights.
            _check_weight_memory(scn, "network.train.hidden", [1, *spec.train.hidden, 1])
            if train or is_trained(spec.train):
                net = train_network(spec.train)[0]
            else:
                net = untrained_network(spec.train)
    except InputError:
        raise
    except ValueError as err:
        key = "network.sizes" if spec.sizes is not None else "network"
        raise InputError(scn.source, key, str(err)) from None
    if spec.input_low is None and spec.input_high is None:
        return net
    return with_input_box(net, *input_box(scn, net))


# The most memory a network built here (`sizes`, `train`) may take in float64 weights.
MAX_WEIGHT_BYTES = 2**32


def _check_weight_memory(scn: Scenario, key: str, sizes: list[int]) -> None:
    """InputError naming `key` when the weights of layer sizes `sizes` need more than
    MAX_WEIGHT_BYTES: refused before anything is allocated (numpy would fail, or the
    system end the process, while drawing them)."""
    count = sum(a * b for a, b in zip(sizes, sizes[1:]))
    if count * 8 > MAX_WEIGHT_BYTES:
        raise InputError(scn.source, key,
                         f"{count} weights need {count * 8 / 2**30:.3g} GiB, more than "
                         f"{MAX_WEIGHT_BYTES / 2**30:g} GiB")


def input_box(scn: Scenario, net: Network) -> tuple[Array, Array]:
    """The scenario's [network] input_low / input_high as (N_0,) arrays, checked.

    A side not given keeps the network's own (the file's, else [0, 1]).
    InputError naming network.input_low / network.input_high otherwise.
    """
    spec, n0 = scn.network, net.sizes[0]
    box = {}
    for side, given, default in (("input_low", spec.input_low, net.input_low),
                                 ("input_high", spec.input_high, net.input_high)):
        value = default if given is None else np.asarray(given, dtype=float)
        if value.ndim == 1 and value.shape != (n0,):
            raise InputError(scn.source, f"network.{side}",
                             f"{len(value)} values, but the network has {n0} inputs "
                             f"(give one value or {n0})")
        box[side] = np.broadcast_to(value, (n0,)).copy()
    lo, hi = box["input_low"], box["input_high"]
    if np.any(lo > hi):
        i = int(np.flatnonzero(lo > hi)[0])
        key = "network.input_low" if spec.input_low is not None else "network.input_high"
        raise InputError(scn.source, key, f"input {i}: input_low {lo[i]:.6g} exceeds "
                         f"input_high {hi[i]:.6g}")
    return lo, hi


def with_input_box(net: Network, lo, hi) -> Network:
    """`net` with another input box."""
    from neurosim.data.network import make_network

    return make_network(net.weights, net.biases, net.activations, lo, hi)


def build_inputs(scn: Scenario, net: Network) -> tuple[Array, Array | None]:
    """The evaluation inputs (n, N_0) and their labels, if any.

    Every input lies in the network's input box: the bounds hold over that
    box only, so an input outside it is refused (not simulated against bounds
    that do not cover it).
    """
    X, labels = _inputs(scn, net)
    key = "inputs.file" if scn.inputs.kind == "file" else "inputs.kind"
    check_in_box(X, net, scn.source, key)
    return X, labels


# The most memory the drawn inputs of a run may take (`inputs.kind = "uniform"`).
MAX_INPUT_BYTES = 2**32


def check_in_box(X: Array, net: Network, source: str, key: str) -> None:
    """InputError naming `key` and the first row of X (n, N_0) outside the input box."""
    outside = (X < net.input_low) | (X > net.input_high)
    if not outside.any():
        return
    row = int(np.flatnonzero(outside.any(axis=1))[0])
    col = int(np.flatnonzero(outside[row])[0])
    raise InputError(source, key,
                     f"row {row} is outside the network's input box: input {col} is "
                     f"{X[row, col]:.6g}, not in [{net.input_low[col]:.6g}, "
                     f"{net.input_high[col]:.6g}] (the bounds hold over the box only; "
                     f"widen [network] input_low / input_high to cover the inputs)")


def _inputs(scn: Scenario, net: Network) -> tuple[Array, Array | None]:
    spec, n0 = scn.inputs, net.sizes[0]
    if spec.kind == "corner":
        return net.input_high[None, :].copy(), None
    if spec.kind == "uniform":
        # Every trial's input is drawn here, at once: refuse what cannot be held.
        if scn.trials * n0 * 8 > MAX_INPUT_BYTES:
            raise InputError(scn.source, "trials",
                             f"{scn.trials} trials of {n0} uniform inputs need "
                             f"{scn.trials * n0 * 8 / 2**30:.3g} GiB of inputs, more than "
                             f"{MAX_INPUT_BYTES / 2**30:g} GiB")
        with np.errstate(over="ignore"):
            wide = ~np.isfinite(net.input_high - net.input_low)
        if wide.any():  # numpy draws low + width * u: an OverflowError traceback
            i = int(np.argmax(wide))
            key = "network.input_high" if scn.network.input_high is not None else \
                "network.input_low" if scn.network.input_low is not None else "network"
            raise InputError(scn.source, key,
                             f"input {i}: uniform inputs are drawn in [{net.input_low[i]:g}, "
                             f"{net.input_high[i]:g}], whose width must be a float64 "
                             f"(below 1.8e308); narrow the box or give kind = \"file\"")
        rng = np.random.default_rng(np.random.SeedSequence([scn.seed, 0x696E70]))
        return rng.uniform(net.input_low, net.input_high, (scn.trials, n0)), None
    if spec.kind == "dataset":
        t = scn.network.train
        fraction, seed = (t.test_fraction, t.seed) if t else (spec.test_fraction, spec.split_seed)
        _, X_test, _, y_test = digits_split(fraction, seed)
        if X_test.shape[1] != n0:
            raise InputError(scn.source, "inputs.kind",
                             f"the {spec.dataset} dataset has {X_test.shape[1]} inputs, "
                             f"the network {n0}")
        return X_test, y_test.astype(int)
    X = _load_array(scn, "inputs.file", spec.file, rows_of=2)
    if X.ndim != 2 or X.shape[1] != n0 or len(X) == 0:
        raise InputError(scn.source, "inputs.file", f"shape {X.shape}, expected (n, {n0})")
    labels = None
    if spec.labels is not None:
        labels = _load_array(scn, "inputs.labels", spec.labels, rows_of=1)
        if labels.shape != (len(X),):
            raise InputError(scn.source, "inputs.labels",
                             f"shape {labels.shape}, expected ({len(X)},)")
        # Labels are class indices, compared with the predicted index (the argmax;
        # logit > 0 for one output): anything else could never be predicted.
        classes = max(net.sizes[-1], 2)
        wrong = (labels != np.round(labels)) | (labels < 0) | (labels >= classes)
        if wrong.any():
            i = int(np.flatnonzero(wrong)[0])
            raise InputError(scn.source, "inputs.labels",
                             f"row {i}: {labels[i]:.6g} is not a class index 0..{classes - 1} "
                             f"(the network has {net.sizes[-1]} output(s))")
        labels = labels.astype(int)
    return X, labels


def _load_array(scn: Scenario, key: str, rel: str, rows_of: int) -> Array:
    """A .npy as saved, or a text file of rows_of-dimensional rows: one row per line
    (`ndmin`: loadtxt made one line of inputs, or one input per line, a 1-D array,
    and one label a 0-D one, which the shape checks then refused)."""
    path = scn.path(rel)
    try:
        arr = np.load(path, allow_pickle=False) if path.suffix.lower() == ".npy" \
            else np.loadtxt(path, ndmin=rows_of,  # a .csv as the delay files: commas
                            delimiter="," if path.suffix.lower() == ".csv" else None)
    except FileNotFoundError:
        raise InputError(scn.source, key, f"file not found: {path}") from None
    except Exception as err:
        raise InputError(scn.source, key, f"cannot read {path} ({err})") from None
    # Complex would lose its imaginary part, booleans would be read as 1.0 and 0.0.
    if arr.dtype.kind not in "iuf":
        raise InputError(scn.source, key, f"{path} must hold real numbers, not dtype {arr.dtype}")
    arr = np.asarray(arr, dtype=float)
    if not np.all(np.isfinite(arr)):
        raise InputError(scn.source, key, f"{path} contains NaN or inf")
    return arr


def build_failures(scn: Scenario, net: Network, skipped: list[int] | None = None) -> Failures:
    """Failure counts the bounds assume, checked against the layer sizes.

    skipped: signals each receiver of layer 1..L+1 does not wait for (a
    quorum's N_{l-1} - k_l); they count as missing, crashed senders among them.
    """
    f, sizes, L = scn.failures, net.sizes, net.depth
    checks = [("crash", f.crash, L, sizes[1:-1]), ("byzantine", f.byzantine, L, sizes[1:-1]),
              ("stragglers", f.stragglers, L, sizes[1:-1]),
              ("synapse_crash", f.synapse_crash, L + 1, sizes[:-1]),
              ("synapse_stragglers", f.synapse_stragglers, L + 1, sizes[:-1]),
              ("synapse_byzantine", f.synapse_byzantine, L + 1, sizes[:-1]),
              ("precision", f.precision, L + 1, None)]
    if f.bits is not None:
        checks.append(("bits", f.bits, L + 1, None))
    for key, value, n, limit in checks:
        try:
            values = per_layer(value, n, key)
        except ValueError:
            raise InputError(scn.source, f"failures.{key}",
                             f"expected a scalar or a list of {n} values (one per layer)") from None
        for l, (v, cap) in enumerate(zip(values, limit or [None] * n, strict=True), start=1):
            if cap is not None and v > cap:
                raise InputError(scn.source, f"failures.{key}",
                                 f"{v} in layer {l} but the layer has only {cap}")
    check_random_failures(scn, net)
    counts = scenario_counts(scn, net)
    crash, byz = counts["crash"], counts["byzantine"]
    for l in range(1, L + 1):
        if crash[l - 1] + byz[l - 1] > sizes[l]:
            raise InputError(scn.source, "failures",
                             f"layer {l}: {crash[l - 1]} crashed + {byz[l - 1]} Byzantine "
                             f"exceed its {sizes[l]} neurons")
    try:
        return failure_counts(net, **counts, skipped=skipped or 0)
    except ValueError as err:
        raise InputError(scn.source, "failures", str(err)) from None


def scenario_counts(scn: Scenario, net: Network) -> dict:
    """The scenario's failure counts as keyword arguments of `failure_counts`.

    With placement "list", the crash and Byzantine counts per hidden layer
    are those of the listed neurons. With `bits`, precision is the
    quantization's eta_l = Delta_l / 2 plus the scenario's precision.
    """
    f, L = scn.failures, net.depth
    crash, byz = per_layer(f.crash, L, "crash"), per_layer(f.byzantine, L, "byzantine")
    if f.placement == "list":
        # A neuron fails one way: listed in two lists, the counts would hold it twice
        # while the engine applies one failure to it.
        claimed: dict[tuple[int, int], str] = {}
        crash = _listed(scn, net, "crashed", f.crashed, claimed)
        byz = _listed(scn, net, "byzantine_list", f.byzantine_list, claimed)
    return {"crash": crash, "byzantine": byz, "synapse_crash": f.synapse_crash,
            "synapse_byzantine": f.synapse_byzantine, "precision": weight_precision(scn, net),
            "capacity": f.capacity}


def weight_precision(scn: Scenario, net: Network) -> list[float]:
    """eta per weight layer 1..L+1: the scenario's precision plus its quantization's."""
    return total_precision(net, scn.failures.precision, scn.failures.bits)


def _listed(scn: Scenario, net: Network, key: str, pairs,
            claimed: dict[tuple[int, int], str]) -> list[int]:
    """Count per hidden layer of an explicit [[layer, index], ...] list.

    claimed: the neurons of the lists read before (neuron -> its list's key);
    this list's neurons are added. A neuron in two lists is refused, naming
    the later list.
    """
    counts = [0] * net.depth
    for layer, index in pairs or []:
        if not 1 <= layer <= net.depth or not 0 <= index < net.sizes[layer]:
            raise InputError(scn.source, f"failures.{key}",
                             f"[{layer}, {index}] is not a hidden neuron (layers 1..{net.depth})")
        other = claimed.get((layer, index))
        if other == key:
            raise InputError(scn.source, f"failures.{key}", f"[{layer}, {index}] listed twice")
        if other is not None:
            raise InputError(scn.source, f"failures.{key}",
                             f"[{layer}, {index}] is also in failures.{other}: a neuron fails "
                             f"one way only")
        claimed[(layer, index)] = key
        counts[layer - 1] += 1
    return counts
