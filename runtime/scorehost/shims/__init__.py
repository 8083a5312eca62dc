"""Fallback modules for the import paths real entry scripts use, without the Azure SDK.

Entry scripts written for Azure ML import ``azureml.contrib.services.aml_request``,
``azureml_inference_server_http.api.aml_response``, ``azureml.core.model``,
``azureml.monitoring`` and friends. :func:`install` appends a finder to the *end* of
``sys.meta_path`` (runner processes; the front too when a logging.json names azmlinfsrv's
log formatter), so it is asked only after every installed
package: a real azureml-core or azureml-inference-server-http always wins, and these
modules fill in only what is missing.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType

# fallback module name -> scorehost module providing it (None: an empty package)
ALIASES: dict[str, str | None] = {
    "azureml": None,
    "azureml.contrib": None,
    "azureml.contrib.services": None,
    "azureml.contrib.services.aml_request": "scorehost.shims.aml_request",
    "azureml.contrib.services.aml_response": "scorehost.shims.aml_response",
    "azureml.core": None,
    "azureml.core.model": "scorehost.shims.model",
    "azureml.monitoring": "scorehost.shims.monitoring",
    "azureml_inference_server_http": None,
    "azureml_inference_server_http.api": None,
    "azureml_inference_server_http.api.aml_request": "scorehost.shims.aml_request",
    "azureml_inference_server_http.api.aml_response": "scorehost.shims.aml_response",
    "azureml_inference_server_http.log_config": "scorehost.shims.log_config",
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str | None):
        self.target = target

    def create_module(self, spec):
        if self.target is None:
            module = ModuleType(spec.name)
            module.__path__ = []  # a package, so submodules are looked up (by the finders)
            module.__scorehost_fallback__ = True
            return module
        return importlib.import_module(self.target)

    def exec_module(self, module):
        pass


class FallbackFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname not in ALIASES:
            return None
        target_name = ALIASES[fullname]
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(target_name),
                                              is_package=target_name is None)


def install() -> None:
    if not any(isinstance(f, FallbackFinder) for f in sys.meta_path):
        sys.meta_path.append(FallbackFinder())
