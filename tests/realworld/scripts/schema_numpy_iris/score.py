"""Entry script written for scorehost's real-world tests (our own code, not a copy).

Pattern mirrored (reference only): Azure/azureml-examples,
cli/endpoints/online/managed/inference-schema/code/score-numpy.py -- inference-schema
decorators: the input parameter "iris" is a NumpyParameterType built from one example row,
the output a StandardPythonParameterType; the classifier is a joblib-pickled scikit-learn
model at $AZUREML_MODEL_DIR/models/iris.pkl.

Request:  {"iris": [[sepal_length, sepal_width, petal_length, petal_width], ...]}
Answer:   {"Category": ["Setosa" | "Versicolor" | "Virginica", ...]}
"""
import os

import joblib
import numpy as np
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType
from inference_schema.schema_decorators import input_schema, output_schema

SPECIES = ("Setosa", "Versicolor", "Virginica")
EXAMPLE_FLOWER = np.array([[7.2, 3.2, 6.0, 1.8]])
EXAMPLE_ANSWER = {"Category": ["Virginica"]}

classifier = None


def init():
    global classifier
    base = os.getenv("AZUREML_MODEL_DIR", "")
    classifier = joblib.load(os.path.join(base, "models", "iris.pkl"))


@input_schema(param_name="iris", param_type=NumpyParameterType(EXAMPLE_FLOWER))
@output_schema(output_type=StandardPythonParameterType(EXAMPLE_ANSWER))
def run(iris):
    # iris arrives as a numpy array: inference-schema converted the JSON list for us
    likeliest = classifier.predict_proba(iris).argmax(axis=1)
    return {"Category": [SPECIES[int(k)] for k in likeliest]}
