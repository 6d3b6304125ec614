"""Make digits.npz: a scikit-learn MLPClassifier (64-32-16-10, logistic) on the bundled digits.

Trained on the 70 % training split of `neurosim.data.build.digits_split(0.3, 0)`
(pixels scaled to [0, 1]) at random_state 0, so scenarios with
`[inputs] kind = "dataset"` evaluate it on digits it has not seen.

    python scenarios/nets/make_digits.py
"""

from pathlib import Path

from neurosim.data.build import digits_split, train_digits
from neurosim.data.network import from_sklearn, save_network

if __name__ == "__main__":
    model = train_digits([32, 16], "sigmoid", seed=0, max_iter=500, test_fraction=0.3)
    _, X_test, _, y_test = digits_split(0.3, 0)
    out = Path(__file__).with_name("digits.npz")
    save_network(from_sklearn(model), out)
    print(f"wrote {out}: test accuracy {model.score(X_test, y_test):.4f}")
