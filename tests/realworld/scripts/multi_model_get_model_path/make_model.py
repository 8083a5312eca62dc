"""Models for MachineLearningNotebooks deploy-multi-model: two registered models laid out as an
Azure ML multi-model deployment mounts them::

    ROOT/azureml-models/my_first_model/1/first_model.pkl
    ROOT/azureml-models/my_second_model/1/second_model.pkl

``build(root)`` returns ``ROOT/azureml-models`` (AZUREML_MODEL_DIR of a multi-model deployment).
The server must run with ROOT as its working directory / AML_APP_ROOT: azureml-core's
``Model.get_model_path`` looks in ``$AML_APP_ROOT/azureml-models``.
Deterministic (fixed seeds); needs scikit-learn and joblib.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _synthetic import regression_10  # noqa: E402


def build(root: str) -> str:
    import joblib
    from sklearn.linear_model import LinearRegression, Ridge

    X, y = regression_10()
    models = os.path.join(root, "azureml-models")
    for name, filename, model in (("my_first_model", "first_model.pkl", Ridge(alpha=1.0)),
                                  ("my_second_model", "second_model.pkl", LinearRegression())):
        folder = os.path.join(models, name, "1")
        os.makedirs(folder, exist_ok=True)
        joblib.dump(model.fit(X, y), os.path.join(folder, filename))
    return models


if __name__ == "__main__":
    print(build(sys.argv[1]))
