"""Deterministic synthetic training data and models shared by the make_model.py scripts."""
from __future__ import annotations

import os

import numpy as np

IRIS_MEANS = np.array([[5.0, 3.4, 1.5, 0.25],   # Setosa
                       [5.9, 2.8, 4.3, 1.3],    # Versicolor
                       [6.6, 3.0, 5.6, 2.0]])   # Virginica
IRIS_SPREAD = np.array([0.35, 0.35, 0.2, 0.1])


def iris_like(n_per_class: int = 40, seed: int = 0):
    """Three Gaussian clusters around the iris class means: (X[n, 4], y[n]) with y in {0, 1, 2}."""
    rng = np.random.RandomState(seed)
    xs, ys = [], []
    for label, mean in enumerate(IRIS_MEANS):
        xs.append(mean + rng.randn(n_per_class, 4) * IRIS_SPREAD)
        ys.append(np.full(n_per_class, label))
    return np.vstack(xs), np.concatenate(ys)


def regression_10(n: int = 100, seed: int = 0, coef_seed: int = 1):
    """A diabetes-like regression problem with 10 features: (X[n, 10], y[n])."""
    rng = np.random.RandomState(seed)
    coef = np.random.RandomState(coef_seed).uniform(-50, 500, size=10)
    X = rng.uniform(0, 10, size=(n, 10))
    y = X @ coef + 150.0 + rng.randn(n) * 5.0
    return X, y


def build_iris_classifier(root: str) -> str:
    """``root/models/iris.pkl``: a LogisticRegression (predict_proba) on iris_like() data, as the
    inference-schema iris samples (numpy and pandas variants) load it; returns ``root``."""
    import joblib
    from sklearn.linear_model import LogisticRegression

    X, y = iris_like()
    model = LogisticRegression(max_iter=1000).fit(X, y)
    os.makedirs(os.path.join(root, "models"), exist_ok=True)
    joblib.dump(model, os.path.join(root, "models", "iris.pkl"))
    return root
