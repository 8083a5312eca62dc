"""Model for the azureml-examples inference-schema iris samples:
``$AZUREML_MODEL_DIR/models/iris.pkl`` (a scikit-learn LogisticRegression with predict_proba,
trained on iris-like synthetic data, 4 features, classes 0/1/2 = Setosa/Versicolor/Virginica).

``python make_model.py OUT_DIR`` writes it; ``build(root)`` returns the AZUREML_MODEL_DIR to use.
Deterministic (fixed seeds); needs scikit-learn and joblib.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _synthetic import iris_like  # noqa: E402


def build(root: str) -> str:
    import joblib
    from sklearn.linear_model import LogisticRegression

    X, y = iris_like()
    model = LogisticRegression(max_iter=1000).fit(X, y)
    os.makedirs(os.path.join(root, "models"), exist_ok=True)
    joblib.dump(model, os.path.join(root, "models", "iris.pkl"))
    return root


if __name__ == "__main__":
    print(build(sys.argv[1]))
