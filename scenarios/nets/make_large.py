"""Make large/net.npz (a 784-1000-200-10 sigmoid network, about 1M weights) and its inputs.

The bundled 8x8 digits are upsampled to 28x28 (bilinear, MNIST's size, pixels
in [0, 1]) and a scikit-learn MLPClassifier 784-1000-200-10 (logistic) is
trained on the 70 % training split of `neurosim.data.build.digits_split(0.3, 0)`
at random_state 0. The held-out digits go to large/inputs.npy and
large/labels.npy, for benchmarks/large-network.toml. The files (about 8 MB) are
not committed, and not shipped with the examples: run this script once.

    python scenarios/nets/make_large.py
"""

import warnings
from pathlib import Path

import numpy as np
from scipy.ndimage import zoom
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from neurosim.data.build import digits_split
from neurosim.data.network import from_sklearn, save_network


def upsample(X: np.ndarray) -> np.ndarray:
    """(n, 64) 8x8 images -> (n, 784) 28x28 images, clipped to [0, 1]."""
    images = X.reshape(-1, 8, 8)
    return np.clip(np.stack([zoom(im, 3.5, order=1) for im in images]), 0.0, 1.0).reshape(
        len(X), 784)


if __name__ == "__main__":
    X_train, X_test, y_train, y_test = digits_split(0.3, 0)
    X_train, X_test = upsample(X_train), upsample(X_test)
    model = MLPClassifier(hidden_layer_sizes=(1000, 200), activation="logistic",
                          random_state=0, max_iter=60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    here = Path(__file__).parent / "large"
    here.mkdir(exist_ok=True)
    save_network(from_sklearn(model), here / "net.npz")
    np.save(here / "inputs.npy", X_test)
    np.save(here / "labels.npy", y_test)
    print(f"wrote {here / 'net.npz'}: 784-1000-200-10, test accuracy "
          f"{model.score(X_test, y_test):.4f}")
