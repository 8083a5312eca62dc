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
from _synthetic import build_iris_classifier as build  # noqa: E402

if __name__ == "__main__":
    print(build(sys.argv[1]))
