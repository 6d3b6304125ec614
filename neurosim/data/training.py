"""Networks trained here ([network] train): the network and what training it cost.

The learning cost of a network (the paper's robustness vs learning cost
trade-off) is recorded as the wall-clock training time, the epochs
scikit-learn ran, and the accuracy on both splits. A scenario's network is
trained once per process: `neurosim bound` and `run` (or the points of a
sweep that differ only in failures) share it.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from neurosim.data.network import Network, from_sklearn, make_network

Array = np.ndarray


@dataclass(frozen=True)
class Training:
    """training_time_s: wall-clock seconds of the fit; training_epochs: scikit-learn's
    n_iter_ (passes over the training split); accuracies on the training and held-out
    splits of the fault-free network; converged: n_iter_ < max_iter; training_work:
    epochs x weights, the fit's cost per training sample in weight updates (unlike the
    time, independent of the machine and its load)."""

    training_time_s: float
    training_epochs: int
    training_accuracy: float
    training_test_accuracy: float
    converged: bool
    training_work: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_TRAINED: dict[str, tuple[Network, Training]] = {}

# Inputs and classes of each bundled dataset: the first and last layer sizes of a
# network trained on it.
DATASET_SHAPE = {"digits": (64, 10)}


def _key(spec: Any, input_low: Array | float, input_high: Array | float) -> str:
    return json.dumps([spec.model_dump(), np.asarray(input_low).tolist(),
                       np.asarray(input_high).tolist()], sort_keys=True)


def is_trained(spec: Any) -> bool:
    """Whether `train_network(spec)` has run in this process (its result is cached)."""
    return _key(spec, 0.0, 1.0) in _TRAINED


def untrained_network(spec: Any) -> Network:
    """A network of the shape `train_network(spec)` fits, zero weights, not trained:
    enough to check failure counts and quorums against the layer sizes without
    paying for the fit (a sweep checks every point before the first one runs)."""
    n_in, n_out = DATASET_SHAPE[spec.dataset]
    sizes = [n_in, *spec.hidden, n_out]
    return make_network([np.zeros((n, m)) for m, n in zip(sizes, sizes[1:])], None,
                        spec.activation)


def train_network(spec: Any, input_low: Array | float = 0.0,
                  input_high: Array | float = 1.0) -> tuple[Network, Training]:
    """Fit a scikit-learn MLPClassifier as `spec` says (a TrainSpec), reproducibly.

    spec: dataset, hidden, activation, seed, max_iter, test_fraction, alpha (the L2
    weight penalty). Returns the network and its training record; cached per spec.
    """
    key = _key(spec, input_low, input_high)
    if key in _TRAINED:
        return _TRAINED[key]
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    from neurosim.data.build import digits_split

    X_train, X_test, y_train, y_test = digits_split(spec.test_fraction, spec.seed)
    sk_act = {"sigmoid": "logistic"}.get(spec.activation, spec.activation)
    model = MLPClassifier(hidden_layer_sizes=tuple(spec.hidden), activation=sk_act,
                          random_state=spec.seed, max_iter=spec.max_iter, alpha=spec.alpha)
    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    # One BLAS thread: on a shared machine more threads make the fit far slower and
    # its time meaningless as a cost; with one, time grows with the work.
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    seconds = time.perf_counter() - started
    net = from_sklearn(model, input_low, input_high)
    record = Training(seconds, int(model.n_iter_), float(model.score(X_train, y_train)),
                      float(model.score(X_test, y_test)), int(model.n_iter_) < spec.max_iter,
                      int(model.n_iter_) * net.n_weights)
    _TRAINED[key] = (net, record)
    return _TRAINED[key]
