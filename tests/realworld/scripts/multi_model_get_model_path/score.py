"""Entry script written for scorehost's real-world tests (our own code, not a copy).

Pattern mirrored (reference only): Azure/MachineLearningNotebooks,
how-to-use-azureml/deployment/deploy-multi-model/multi-model-register-and-deploy.ipynb
(its score.py cell) -- a multi-model deployment: ``Model.get_model_path`` is asked for two
registered models by name, both joblib-pickled scikit-learn regressors, and every request
is scored by both. Errors are answered as their message text.

Request:  {"data": [[f1, ..., f10], ...]}
Answer:   {"prediction1": [...], "prediction2": [...]}  or  "<error message>"
"""
import json

import joblib
import numpy as np
from azureml.core.model import Model

REGISTERED = ("my_first_model", "my_second_model")
regressors = {}


def init():
    for name in REGISTERED:
        regressors[name] = joblib.load(Model.get_model_path(model_name=name))


def run(raw_data):
    try:
        rows = np.array(json.loads(raw_data)["data"])
        first, second = (regressors[name].predict(rows) for name in REGISTERED)
        return {"prediction1": first.tolist(), "prediction2": second.tolist()}
    except Exception as problem:
        return str(problem)
