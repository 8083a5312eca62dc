"""Entry script written for scorehost's real-world tests (our own code, not a copy).

Pattern mirrored (reference only): Azure/MachineLearningNotebooks,
how-to-use-azureml/deployment/enable-data-collection-for-models-in-aks/enable-data-collection-for-models-in-aks.ipynb
(its score.py cell) -- a regressor found with ``Model.get_model_path`` plus two
``azureml.monitoring.ModelDataCollector`` objects, one recording the inputs and one the
predictions of every request. The public sample imports joblib from ``sklearn.externals``
(gone since scikit-learn 0.23); this script uses ``import joblib`` so it runs on a current
scikit-learn. Under scorehost the collectors are its fallback, which writes JSON Lines under
SCOREHOST_DATA_COLLECTION_DIR; under azmlinfsrv they are azureml-monitoring's. Its current
release (0.1.0a21) cannot load its native library on a current Linux (it needs OpenSSL 1.0,
see Azure/MachineLearningNotebooks issue 1741), and then every collect() raises
AttributeError; so here a failing collector is logged and the prediction is still answered,
which keeps the answers of both servers comparable.

Request:  {"data": [[f1, ..., f10], ...]}
Answer:   [prediction per row]  or  "<error message>" (body not JSON, wrong feature count)
"""
import json
import logging

import joblib
import numpy as np
from azureml.core.model import Model
from azureml.monitoring import ModelDataCollector

REGISTERED_NAME = "sklearn_regression_model.pkl"
COLLECTOR_MODEL = "sklearn_regression_model"

logger = logging.getLogger("realworld.datacollector")
state = {}


def init():
    state["regressor"] = joblib.load(Model.get_model_path(model_name=REGISTERED_NAME))
    # designation= names where the records go (the public sample passed identifier=, which the
    # current azureml-monitoring constructor no longer accepts)
    state["inputs"] = ModelDataCollector(COLLECTOR_MODEL, designation="inputs",
                                         feature_names=["feat1", "feat2"])
    state["outputs"] = ModelDataCollector(COLLECTOR_MODEL, designation="predictions",
                                          feature_names=["prediction1", "prediction2"])
    logger.info("regressor and collectors ready")


def _record(collector, values):
    try:
        state[collector].collect(values)
    except Exception as problem:  # collection is best effort: never cost the client its answer
        logger.warning("data collection (%s) failed: %r", collector, problem)


def run(raw_data):
    try:
        rows = np.array(json.loads(raw_data)["data"])
        predicted = state["regressor"].predict(rows)
    except Exception as problem:
        logger.warning("request not scored: %s", problem)
        return str(problem)
    _record("inputs", rows)
    _record("outputs", predicted)
    return predicted.tolist()
