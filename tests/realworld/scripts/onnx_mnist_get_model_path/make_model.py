"""Model for MachineLearningNotebooks onnx-inference-mnist-deploy: an ONNX classifier with the
MNIST model-zoo interface (input ``Input3`` float32 [1, 1, 28, 28], output
``Plus214_Output_0`` float32 [1, 10]) -- Flatten then Gemm with fixed pseudo-random weights --
laid out as Azure ML mounts a registered model::

    ROOT/azureml-models/mnist_1/1/model.onnx

``build(root)`` returns the version folder (AZUREML_MODEL_DIR); the server runs with ROOT as its
working directory / AML_APP_ROOT (azureml-core's ``Model.get_model_path`` looks in
``$AML_APP_ROOT/azureml-models``). Deterministic; needs numpy and onnx.
"""
from __future__ import annotations

import os
import sys

import numpy as np


def weights():
    rng = np.random.RandomState(7)
    return (rng.randn(784, 10) * 0.2).astype(np.float32), (rng.randn(10) * 0.1).astype(np.float32)


def build(root: str) -> str:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w, b = weights()
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["Input3"], ["flat"], axis=1),
         helper.make_node("Gemm", ["flat", "W", "B"], ["Plus214_Output_0"])],
        "mnist_like",
        [helper.make_tensor_value_info("Input3", TensorProto.FLOAT, [1, 1, 28, 28])],
        [helper.make_tensor_value_info("Plus214_Output_0", TensorProto.FLOAT, [1, 10])],
        initializer=[numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="scorehost-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    folder = os.path.join(root, "azureml-models", "mnist_1", "1")
    os.makedirs(folder, exist_ok=True)
    onnx.save(model, os.path.join(folder, "model.onnx"))
    return folder


def sample_image(digit_seed: int = 7) -> list:
    """A deterministic 1x1x28x28 'image' (nested lists) to post as {"data": ...}."""
    rng = np.random.RandomState(digit_seed)
    img = np.zeros((28, 28), dtype=np.float32)
    img[6:22, 10:18] = rng.uniform(0.5, 1.0, size=(16, 8))
    return np.round(img, 3).reshape(1, 1, 28, 28).tolist()


if __name__ == "__main__":
    print(build(sys.argv[1]))
