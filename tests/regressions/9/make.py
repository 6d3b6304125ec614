# A binary scikit-learn MLPClassifier (1 logit output after conversion), inputs with labels.
import joblib
import numpy as np
from sklearn.neural_network import MLPClassifier

rng = np.random.default_rng(0)
X = rng.uniform(0, 1, (200, 2))
y = (X[:, 0] > X[:, 1]).astype(int)
m = MLPClassifier(hidden_layer_sizes=(4,), activation="logistic", max_iter=3000,
                  random_state=0).fit(X, y)
joblib.dump(m, "model.joblib")
np.save("x.npy", X[:50])
np.save("y.npy", y[:50])
print("sklearn accuracy on the 50 inputs:", m.score(X[:50], y[:50]))
