"""Iris classifier (scikit-learn) with an inference-schema contract.

- input: ``data``, a list of rows with named columns (``PandasParameterType``): run()
  receives a pandas DataFrame with the sample's column types, and a row with a missing
  or non-numeric value is rejected with a 400 naming the field before run() is called;
- output: the predicted species and the class probabilities (``NumpyParameterType``
  inside a ``StandardPythonParameterType`` dict);
- a row without one of the four fields, or with a null, gets a 400 saying so (an AMLResponse);
- both schemas, with the samples below as examples, are served at GET /swagger.json.

The model (a StandardScaler + LogisticRegression pipeline) is loaded from
$AZUREML_MODEL_DIR/model.joblib; make_model.py writes it.
"""
import os

import joblib
import numpy as np
import pandas as pd
from azureml_inference_server_http.api.aml_response import AMLResponse
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.parameter_types.pandas_parameter_type import PandasParameterType
from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType
from inference_schema.schema_decorators import input_schema, output_schema

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]

input_sample = pd.DataFrame(
    [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], columns=FEATURES, dtype="float64")
output_sample = StandardPythonParameterType({
    "predictions": NumpyParameterType(np.array(["setosa", "virginica"])),
    "probabilities": NumpyParameterType(np.array([[0.98, 0.02, 0.0], [0.0, 0.03, 0.97]]), enforce_shape=False),
    "classes": StandardPythonParameterType(["setosa", "versicolor", "virginica"]),
})

model = None


def init():
    global model
    model = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.joblib"))


@input_schema("data", PandasParameterType(input_sample, enforce_shape=False))
@output_schema(output_sample)
def run(data):
    # data is a DataFrame; inference-schema has already cast the columns it knows to float64.
    needed = f"the numeric fields {', '.join(FEATURES)}"
    if data.empty:
        return AMLResponse({"message": f"'data' is empty: send a list of rows with {needed}"}, 400, json_str=True)
    missing = [name for name in FEATURES if name not in data.columns]
    if missing:
        return AMLResponse({"message": f"Each row of 'data' needs {needed}; missing: {', '.join(missing)}"}, 400,
                           json_str=True)
    features = data[FEATURES]  # by name, so the order of the fields in the request does not matter
    if not np.isfinite(features.to_numpy(dtype=np.float64)).all():
        return AMLResponse({"message": f"Each row of 'data' needs {needed}; got null or non-finite values"}, 400,
                           json_str=True)
    probabilities = model.predict_proba(features)
    classes = model.classes_
    return {
        "predictions": classes[probabilities.argmax(axis=1)].tolist(),
        "probabilities": probabilities.round(4).tolist(),
        "classes": classes.tolist(),
    }
