"""Train this sample's two diabetes-progression models and lay them out as Azure ML mounts them.

    python make_model.py [--output DIR]

Writes, under artifacts/ (the folder Azure ML calls azureml-models when a deployment has
several models; AZUREML_MODEL_DIR points at it):

    diabetes-linear/1/model.joblib   Ridge(alpha=10): an older version, left there on purpose
    diabetes-linear/2/model.joblib   Ridge(alpha=0.1): the highest version, the one served
    diabetes-tree/1/model.joblib     DecisionTreeRegressor(max_depth=4)

Trained on scikit-learn's bundled diabetes data set; deterministic and quick. The models are
not committed: a scikit-learn pickle is only guaranteed to load with the scikit-learn
version that wrote it. `scorehost smoke` runs this script itself when artifacts/ is missing.
"""
import argparse
import os
import shutil
import tempfile

import joblib
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.tree import DecisionTreeRegressor

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = {
    ("diabetes-linear", 1): lambda: Ridge(alpha=10.0),
    ("diabetes-linear", 2): lambda: Ridge(alpha=0.1),
    ("diabetes-tree", 1): lambda: DecisionTreeRegressor(max_depth=4, random_state=0),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=os.path.join(HERE, "artifacts"),
                        help="folder to create (default: artifacts/ beside this script)")
    args = parser.parse_args()
    features, target = load_diabetes(return_X_y=True)
    output = os.path.abspath(args.output)
    parent = os.path.dirname(output)
    os.makedirs(parent, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=".model-", dir=parent)  # same filesystem: the rename is atomic
    os.chmod(scratch, 0o755)
    try:
        for (name, version), make in MODELS.items():
            folder = os.path.join(scratch, name, str(version))
            os.makedirs(folder)
            joblib.dump(make().fit(features, target), os.path.join(folder, "model.joblib"))
        shutil.rmtree(output, ignore_errors=True)
        os.rename(scratch, output)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for name, version in MODELS:
        print(f"wrote {os.path.join(output, name, str(version), 'model.joblib')}")


if __name__ == "__main__":
    main()
