"""Entry script written for scorehost's real-world tests (our own code, not a copy).

Pattern mirrored (reference only): Azure/azureml-examples,
cli/endpoints/online/managed/inference-schema/code/score-pandas.py -- inference-schema
decorators with a PandasParameterType input (a one-row example DataFrame, so requests send
records) and a StandardPythonParameterType output; joblib-pickled scikit-learn classifier at
$AZUREML_MODEL_DIR/models/iris.pkl.

Request:  {"iris": [{"sepal_length": .., "sepal_width": .., "petal_length": .., "petal_width": ..}, ...]}
Answer:   {"Category": ["Setosa" | "Versicolor" | "Virginica", ...]}
"""
import os

import joblib
import pandas as pd
from inference_schema.parameter_types.pandas_parameter_type import PandasParameterType
from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType
from inference_schema.schema_decorators import input_schema, output_schema

SPECIES = ("Setosa", "Versicolor", "Virginica")
EXAMPLE_FRAME = pd.DataFrame(
    [[7.2, 3.2, 6.0, 1.8]],
    columns=["sepal_length", "sepal_width", "petal_length", "petal_width"],
)

classifier = None


def init():
    global classifier
    classifier = joblib.load(os.path.join(os.getenv("AZUREML_MODEL_DIR", ""), "models", "iris.pkl"))


@input_schema(param_name="iris", param_type=PandasParameterType(EXAMPLE_FRAME))
@output_schema(output_type=StandardPythonParameterType({"Category": ["Virginica"]}))
def run(iris):
    # iris is a DataFrame; the model was fitted on a bare 4-column array
    matrix = iris.to_numpy()
    winners = classifier.predict_proba(matrix).argmax(axis=1)
    return {"Category": [SPECIES[int(k)] for k in winners]}
