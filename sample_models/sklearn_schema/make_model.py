"""Train the iris classifier of this sample and save it as artifacts/model.joblib.

    python make_model.py [--output DIR]

Deterministic (fixed data, fixed solver, no randomness) and quick (well under a second of
training). The model is not committed: a scikit-learn pickle is only guaranteed to load with
the scikit-learn version that wrote it, so it is built with the interpreter that serves it.
`scorehost smoke` runs this script itself when artifacts/ is missing.
"""
import argparse
import os
import shutil
import tempfile

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def train():
    iris = load_iris(as_frame=True)
    features = iris.data.copy()
    features.columns = FEATURES  # "sepal length (cm)" -> "sepal_length": the request's column names
    labels = iris.target.map(dict(enumerate(iris.target_names)))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(features, labels)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=os.path.join(HERE, "artifacts"),
                        help="model directory to create (default: artifacts/ beside this script)")
    args = parser.parse_args()
    output = os.path.abspath(args.output)
    parent = os.path.dirname(output)
    os.makedirs(parent, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=".model-", dir=parent)  # same filesystem: the rename is atomic
    os.chmod(scratch, 0o755)
    try:
        joblib.dump(train(), os.path.join(scratch, "model.joblib"))
        shutil.rmtree(output, ignore_errors=True)
        os.rename(scratch, output)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"wrote {os.path.join(output, 'model.joblib')}")


if __name__ == "__main__":
    main()
