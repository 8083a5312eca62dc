"""Entry script written for scorehost's real-world tests (our own code, not a copy).

Pattern mirrored (reference only): Azure/azureml-examples,
cli/endpoints/online/model-1/onlinescoring/score.py -- the basic managed online endpoint
script: no decorators, run() receives the request body as a string, and the model is a
joblib-pickled scikit-learn regressor lying directly in AZUREML_MODEL_DIR.

Request:  {"data": [[f1, ..., f10], ...]}
Answer:   [prediction per row]
Nothing is caught here: a body that is not JSON, lacks "data" or has the wrong number of
features makes run() raise, which the server reports as a 500.
"""
import json
import logging
import os

import joblib
import numpy as np

MODEL_FILENAME = "sklearn_regression_model.pkl"

logger = logging.getLogger("realworld.sklearn_model1")
regressor = None


def init():
    global regressor
    where = os.path.join(os.getenv("AZUREML_MODEL_DIR"), MODEL_FILENAME)
    regressor = joblib.load(where)
    logger.info("loaded %s", where)


def run(raw_data):
    payload = json.loads(raw_data)
    rows = np.array(payload["data"])
    logger.info("scoring %d row(s)", len(rows))
    return regressor.predict(rows).tolist()
