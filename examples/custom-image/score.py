"""Entry script of the custom-image example: a linear model with NumPy.

Request: {"data": [[x1, x2, x3], ...]}
Answer:  {"predictions": [y, ...]}
"""
import json
import os

import numpy as np

coef = None
intercept = None


def init():
    """Load the weights from the model directory baked into the image."""
    global coef, intercept
    with open(os.path.join(os.environ["AZUREML_MODEL_DIR"], "weights.json")) as f:
        weights = json.load(f)
    coef = np.asarray(weights["coef"], dtype=np.float64)
    intercept = float(weights["intercept"])


def run(data):
    rows = np.asarray(json.loads(data)["data"], dtype=np.float64)
    return {"predictions": (rows @ coef + intercept).tolist()}
