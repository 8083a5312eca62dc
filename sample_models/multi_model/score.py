"""Two registered models behind one endpoint, found with Model.get_model_path.

When an Azure ML deployment has several models, they are mounted as
$AZUREML_MODEL_DIR/<name>/<version>/<files>, and the v1 SDK's
``Model.get_model_path(name)`` returns the file of the highest version of a model (or the
version folder, if it holds several files). scorehost provides that function even without
azureml-core installed.

- input (the body as a JSON string, run() is not decorated): {"data": [[10 numbers], ...]},
  rows of scikit-learn's diabetes features (age, sex, bmi, bp, s1..s6, already scaled);
- output: each model's predictions of the disease progression a year later, their mean, and
  which version of each model answered;
- a body that is not such a list gets a 400 saying what is expected (an AMLResponse).
"""
import json
import os

import joblib
import numpy as np
from azureml.core.model import Model
from azureml_inference_server_http.api.aml_response import AMLResponse

MODEL_NAMES = ("diabetes-linear", "diabetes-tree")
FEATURES = 10
models = {}
versions = {}


def init():
    for name in MODEL_NAMES:
        path = Model.get_model_path(name)  # .../<name>/<highest version>/model.joblib
        models[name] = joblib.load(path)
        versions[name] = os.path.basename(os.path.dirname(path))


def _bad_request(message):
    return AMLResponse({"message": message}, 400, json_str=True)


def run(raw_data):
    expected = f'Expected {{"data": [[{FEATURES} numbers], ...]}}'
    try:
        rows = json.loads(raw_data)["data"]
        features = np.array(rows, dtype=np.float64)
    except (ValueError, TypeError, KeyError) as exc:
        return _bad_request(f"{expected}: {type(exc).__name__}: {exc}")
    if features.ndim != 2 or features.shape[1] != FEATURES or len(features) == 0:
        return _bad_request(f"{expected}, got an array of shape {list(features.shape)}")
    if not np.isfinite(features).all():
        return _bad_request(f"{expected}: the numbers must be finite")

    predictions = {name: model.predict(features) for name, model in models.items()}
    return {
        "predictions": {name: p.round(2).tolist() for name, p in predictions.items()},
        "mean": np.mean(list(predictions.values()), axis=0).round(2).tolist(),
        "versions": versions,
    }
