"""Model for azureml-examples model-1: ``$AZUREML_MODEL_DIR/sklearn_regression_model.pkl``
(a scikit-learn Ridge regression on 10 features, like the sample's diabetes model).

``python make_model.py OUT_DIR`` writes it; ``build(root)`` returns the AZUREML_MODEL_DIR to use.
Deterministic (fixed seeds); needs scikit-learn and joblib.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _synthetic import regression_10  # noqa: E402


def build(root: str) -> str:
    import joblib
    from sklearn.linear_model import Ridge

    X, y = regression_10()
    model = Ridge(alpha=1.0).fit(X, y)
    os.makedirs(root, exist_ok=True)
    joblib.dump(model, os.path.join(root, "sklearn_regression_model.pkl"))
    return root


if __name__ == "__main__":
    print(build(sys.argv[1]))
