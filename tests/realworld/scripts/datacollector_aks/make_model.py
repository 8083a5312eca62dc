"""Model for the data-collection case (pattern of MachineLearningNotebooks
enable-data-collection-for-models-in-aks)::

    ROOT/azureml-models/sklearn_regression_model.pkl/1/sklearn_regression_model.pkl

``build(root)`` returns the version folder (AZUREML_MODEL_DIR of a single-model deployment);
the server runs with ROOT as its working directory / AML_APP_ROOT (azureml-core's
``Model.get_model_path`` looks in ``$AML_APP_ROOT/azureml-models``).
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
    folder = os.path.join(root, "azureml-models", "sklearn_regression_model.pkl", "1")
    os.makedirs(folder, exist_ok=True)
    joblib.dump(Ridge(alpha=1.0).fit(X, y), os.path.join(folder, "sklearn_regression_model.pkl"))
    return folder


if __name__ == "__main__":
    print(build(sys.argv[1]))
