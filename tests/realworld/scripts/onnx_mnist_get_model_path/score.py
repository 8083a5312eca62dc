"""Entry script written for scorehost's real-world tests (our own code, not a copy).

Pattern mirrored (reference only): Azure/MachineLearningNotebooks,
how-to-use-azureml/deployment/onnx/onnx-inference-mnist-deploy.ipynb (its score.py cell) --
an ONNX model located with azureml-core's ``Model.get_model_path('mnist_1')`` (a single
registered model) and run with onnxruntime; the answer carries the argmax class and the
time the inference took. Failures are reported in the answer, not raised.

Request:  {"data": <float array of shape 1x1x28x28>}
Answer:   {"result": digit, "time_in_sec": seconds}  or  {"error": message}
"""
import json
import time

import numpy as np
import onnxruntime as ort
from azureml.core.model import Model

session = None
feed_name = None
fetch_name = None


def init():
    global session, feed_name, fetch_name
    onnx_file = Model.get_model_path(model_name="mnist_1")
    session = ort.InferenceSession(onnx_file, providers=["CPUExecutionProvider"])
    feed_name = session.get_inputs()[0].name
    fetch_name = session.get_outputs()[0].name


def _to_tensor(body):
    return np.asarray(json.loads(body)["data"], dtype=np.float32)


def run(input_data):
    try:
        tensor = _to_tensor(input_data)
        began = time.perf_counter()
        (logits,) = session.run([fetch_name], {feed_name: tensor})
        took = time.perf_counter() - began
        return {"result": int(np.argmax(np.squeeze(logits))), "time_in_sec": took}
    except Exception as problem:  # the sample's contract: report, do not raise
        return {"error": str(problem)}
