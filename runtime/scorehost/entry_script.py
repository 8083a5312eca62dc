"""Loading an entry script and checking its contract, as azmlinfsrv does.

User-code layer: imports no web framework. Runs only in runner processes.

- The script is loaded by path as module ``entry_module`` (or ``import main`` from the app
  root when no script is configured).
- It must define ``init()`` and ``run()``. A ``driver_module`` attribute holding a module with a
  ``run()`` (Azure SDK generated proxies) is followed for ``run()``; ``init()`` stays the driver's.
- ``run()`` takes no ``*args``/``**kwargs``/positional-only parameters and at least one input
  parameter besides ``request_headers``.
- Its input mode: ``@rawhttp`` (the request object), ``@input_schema`` (JSON body fields as
  keyword arguments, converted by inference-schema), or undecorated (the body as ``str``).
"""
from __future__ import annotations

import importlib.util
import inspect
import os
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable

RAW, SCHEMA, TEXT = "rawhttp", "schema", "text"

# Modules whose `rawhttp` decorator sets a module-level `_rawHttpRequested` flag (azmlinfsrv's
# mechanism, kept by our fallback modules and by the real packages when they are installed).
_RAWHTTP_MODULES = (
    "azureml.contrib.services.aml_request",
    "azureml_inference_server_http.api.aml_request",
)


class EntryScriptError(Exception):
    """The entry script cannot be served. ``message`` says what is wrong and what is expected."""

    def __init__(self, message: str, *, stage: str, exit_code: int = 3):
        super().__init__(message)
        self.message = message
        self.stage = stage
        self.exit_code = exit_code


@dataclass
class EntryScript:
    path: str
    module: ModuleType
    init: Callable[[], Any]
    run: Callable[..., Any]
    mode: str
    input_param: str                       # first input parameter (text/rawhttp modes)
    params: list[inspect.Parameter] = field(default_factory=list)  # input parameters (schema mode)
    wants_headers: bool = False
    driver: str | None = None

    def describe(self) -> dict:
        """What the front needs to know (plain values, sent in the READY message)."""
        return {
            "path": self.path,
            "mode": self.mode,
            "input_param": self.input_param,
            "params": [p.name for p in self.params],
            "wants_headers": self.wants_headers,
        }


def _where(func: Callable) -> str:
    try:
        target = inspect.unwrap(func)
        lines, start = inspect.getsourcelines(target)
        return f"{inspect.getsourcefile(target)}, line {start}: {lines[0].strip()}"
    except (OSError, TypeError):
        return getattr(func, "__qualname__", repr(func))


def import_script(entry_script: str | None, app_root: str) -> ModuleType:
    """Import the script; exceptions from the user's code propagate unchanged."""
    if entry_script:
        path = os.path.join(app_root, entry_script.replace("/", os.sep))
        if not os.path.isfile(path):
            raise EntryScriptError(
                f"Entry script {path} does not exist. Expected a Python file with init() and run(): "
                f"check --entry_script / AZUREML_ENTRY_SCRIPT (relative paths are resolved against "
                f"the app root {app_root}).", stage="import")
        spec = importlib.util.spec_from_file_location("entry_module", path)
        if spec is None or spec.loader is None:
            raise EntryScriptError(f"Entry script {path} is not a loadable Python file.", stage="import")
        module = importlib.util.module_from_spec(spec)
        sys.modules["entry_module"] = module  # lets pickle/dataclasses find classes the script defines
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop("entry_module", None)
            raise
        return module
    try:
        import main as module  # noqa: PLC0415 - azmlinfsrv's fallback when no script is configured
    except ModuleNotFoundError as exc:
        if exc.name != "main":
            raise
        listing = sorted(os.listdir(app_root)) if os.path.isdir(app_root) else None
        where = f"contents: {listing}" if listing is not None else "it is not an accessible directory"
        raise EntryScriptError(
            "No score script found. Expected --entry_script, AZUREML_ENTRY_SCRIPT, or main.py in the "
            f"app root {app_root} ({where}).", stage="import") from None
    return module


def _rawhttp_requested(run: Callable) -> bool:
    if getattr(run, "__scorehost_rawhttp__", False):
        return True
    return any(getattr(sys.modules.get(name), "_rawHttpRequested", False) for name in _RAWHTTP_MODULES)


def _schema_decorated(run: Callable) -> bool:
    if "inference_schema" not in sys.modules:
        return False  # the script could not have used the decorators
    from inference_schema.schema_util import is_schema_decorated
    return bool(is_schema_decorated(run))


def analyse(module: ModuleType) -> EntryScript:
    """Check the init()/run() contract and decide how run() is called."""
    where = getattr(module, "__file__", None) or module.__name__
    if not hasattr(module, "init"):
        raise EntryScriptError(
            f"User script at {where} does not have a init() function defined. "
            "Expected: def init(): ... (load the model once).", stage="contract")
    if not hasattr(module, "run"):
        raise EntryScriptError(
            f"User script at {where} does not have a run() function defined. "
            "Expected: def run(data): ... (score one request).", stage="contract")

    run = module.run
    driver = None
    maybe = getattr(module, "driver_module", None)
    if isinstance(maybe, ModuleType) and hasattr(maybe, "run"):
        run, driver = maybe.run, getattr(maybe, "__file__", maybe.__name__)

    try:
        params = list(inspect.signature(run).parameters.values())
    except (TypeError, ValueError) as exc:
        raise EntryScriptError(f"run() in {where} has no inspectable signature: {exc}", stage="contract") from None
    if any(p.kind not in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params):
        raise EntryScriptError(
            "run() cannot accept positional-only arguments, *args, or **kwargs. "
            f"Found at {_where(run)}. Expected: def run(data) or def run(data, request_headers).",
            stage="contract")
    wants_headers = any(p.name == "request_headers" for p in params)
    inputs = [p for p in params if p.name != "request_headers"]
    if not inputs:
        needed = ('run() needs to accept an argument other than "request_headers".' if wants_headers
                  else "run() needs to accept an argument for input data.")
        raise EntryScriptError(f"{needed} Found at {_where(run)}. Expected: def run(data).", stage="contract")

    raw, schema = _rawhttp_requested(run), _schema_decorated(run)
    if raw and schema:
        raise EntryScriptError(
            f"run() cannot be decorated with both @rawhttp and @input_schema ({_where(run)}). "
            "Expected one of them: @rawhttp receives the whole request, @input_schema the parsed JSON fields.",
            stage="contract")
    mode = RAW if raw else SCHEMA if schema else TEXT
    return EntryScript(path=where, module=module, init=module.init, run=run, mode=mode,
                       input_param=inputs[0].name, params=inputs if mode == SCHEMA else [],
                       wants_headers=wants_headers, driver=driver)
