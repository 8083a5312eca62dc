"""``azureml.core.model.Model.get_model_path`` for scripts deployed with the v1 SDK.

In an Azure ML deployment registered models are mounted at
``$AML_APP_ROOT/azureml-models/<name>/<version>/...``; ``AZUREML_MODEL_DIR`` points at one
version folder (single model) or at ``azureml-models`` (several models).
"""
from __future__ import annotations

import os


class ModelNotFoundException(Exception):
    """No folder for the requested model (and version) exists."""


def _roots() -> list[str]:
    roots = []
    model_dir = os.environ.get("AZUREML_MODEL_DIR")
    if model_dir:
        model_dir = os.path.abspath(model_dir)
        roots.append(model_dir)
        # .../azureml-models/<name>/<version> -> .../azureml-models
        roots.append(os.path.dirname(os.path.dirname(model_dir)))
    roots.append(os.path.join(os.environ.get("AML_APP_ROOT", "/var/azureml-app"), "azureml-models"))
    return list(dict.fromkeys(roots))


def _version_key(name: str):
    return (0, int(name)) if name.isdigit() else (1, name)


class Model:
    @staticmethod
    def get_model_path(model_name: str, version: int | None = None, _workspace=None) -> str:
        """Path of a deployed model: the single file or folder inside its version folder, or
        the version folder itself when it holds several entries. Highest version by default.
        Outside a deployment, falls back to ``./<model_name>``."""
        for root in _roots():
            model_root = os.path.join(root, model_name)
            if not os.path.isdir(model_root):
                continue
            versions = sorted((v for v in os.listdir(model_root) if os.path.isdir(os.path.join(model_root, v))),
                              key=_version_key)
            if version is not None:
                versions = [v for v in versions if v == str(version)]
            if not versions:
                continue
            version_dir = os.path.join(model_root, versions[-1])
            entries = os.listdir(version_dir)
            return os.path.join(version_dir, entries[0]) if len(entries) == 1 else version_dir
        local = os.path.join(os.getcwd(), model_name)
        if os.path.exists(local):
            return local
        wanted = f"{model_name}" + (f" version {version}" if version is not None else "")
        raise ModelNotFoundException(
            f"Model {wanted} not found: looked in {', '.join(_roots())} (as <name>/<version>/) and {local}")
