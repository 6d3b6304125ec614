"""Make digits_relu.npz: the digits classifier of make_digits.py with relu activations.

Same split, layer sizes (64-32-16-10), seed and iterations; only the activation
differs, so that the exact worst case (a mixed-integer linear program for
piecewise-linear networks) can be compared with the sigmoid net's search.

    python scenarios/nets/make_digits_relu.py
"""

from pathlib import Path

from neurosim.data.build import digits_split, train_digits
from neurosim.data.network import from_sklearn, save_network

if __name__ == "__main__":
    model = train_digits([32, 16], "relu", seed=0, max_iter=500, test_fraction=0.3)
    _, X_test, _, y_test = digits_split(0.3, 0)
    out = Path(__file__).with_name("digits_relu.npz")
    save_network(from_sklearn(model), out)
    print(f"wrote {out}: test accuracy {model.score(X_test, y_test):.4f}")
