"""Telemetry fixture: ModelDataCollector (scorehost's azureml.monitoring fallback) in run()."""
import json

from azureml.monitoring import ModelDataCollector

inputs_dc = prediction_dc = None


def init():
    global inputs_dc, prediction_dc
    inputs_dc = ModelDataCollector("mdc-model", designation="inputs", feature_names=["x"])
    prediction_dc = ModelDataCollector("mdc-model", designation="predictions", feature_names=["y"])


def run(data):
    d = json.loads(data)
    inputs_dc.collect([d["x"]])
    result = {"y": d["x"] * 2}
    prediction_dc.collect(result)
    return result
