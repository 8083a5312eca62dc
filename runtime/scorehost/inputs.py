"""Turning an HTTP request into run()'s arguments, per input mode.

User-code layer: no web framework is imported here (the @rawhttp request object comes from
:mod:`scorehost.shims.aml_request`, which imports Flask only for scripts that use it).

The request arrives from the front as a WSGI-style ``environ`` dict (str values, ``HTTP_*``
header keys in arrival order) plus the body bytes, so a header dict and the query parameters
come out exactly as Flask would have produced them for azmlinfsrv.
"""
from __future__ import annotations

import contextvars
import inspect
import json
import threading
from typing import Any
from urllib.parse import parse_qsl

from .entry_script import RAW, SCHEMA, EntryScript


class InputError(Exception):
    """The request cannot be given to run(); ``status`` and ``message`` form the answer."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class MethodNotRouted(Exception):
    """A method that the script's mode does not handle (OPTIONS -> 200, others -> 405)."""


class InputConversionError(ValueError):
    """inference-schema could not convert a field to its declared type (a client error)."""

    def __init__(self, param: str, cause: BaseException):
        super().__init__(f"Invalid value for '{param}': {cause}")
        self.param = param


def request_headers(environ: dict[str, str]) -> dict[str, str]:
    """``dict(flask.request.headers)`` for this environ (werkzeug's EnvironHeaders rules)."""
    out = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            if key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                continue
            out[key[5:].replace("_", "-").title()] = value
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            out[key.replace("_", "-").title()] = value
    return out


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def query_parameters(environ: dict[str, str]) -> dict[str, Any]:
    """azmlinfsrv's GET input: each value JSON-decoded when possible, repeated keys -> list."""
    raw = environ.get("QUERY_STRING", "").encode("latin-1").decode("utf-8", "replace")
    grouped: dict[str, list[str]] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        grouped.setdefault(key, []).append(value)
    return {k: _json_or_text(v[0]) if len(v) == 1 else [_json_or_text(x) for x in v] for k, v in grouped.items()}


def _mimetype(environ: dict[str, str]) -> str:
    return environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()


def _is_json(environ: dict[str, str]) -> bool:
    mt = _mimetype(environ)
    return mt == "application/json" or (mt.startswith("application/") and mt.endswith("+json"))


# ------------------------------------------------------------------ inference-schema hooks

_omitted: contextvars.ContextVar[frozenset] = contextvars.ContextVar("scorehost_omitted", default=frozenset())
_hooks_installed = False


def install_schema_hooks() -> None:
    """Make inference-schema's conversion errors recognisable as client errors, and leave
    omitted optional parameters at their Python default instead of converting the default.

    azmlinfsrv answers both cases with a 500 "error in scoring script"; scorehost answers 400
    with the field name (docs/compat.md).
    """
    global _hooks_installed
    if _hooks_installed:
        return
    import inference_schema.schema_decorators as decorators

    original = decorators._deserialize_input_argument
    depth = threading.local()

    def deserialize(input_data, param_type, param_name):
        level = getattr(depth, "n", 0)
        if level == 0 and param_name in _omitted.get():
            return input_data
        depth.n = level + 1
        try:
            return original(input_data, param_type, param_name)
        except InputConversionError:
            raise
        except Exception as exc:  # any failure to convert is the client's input
            raise InputConversionError(param_name, exc) from exc
        finally:
            depth.n = level

    decorators._deserialize_input_argument = deserialize
    _hooks_installed = True


# ------------------------------------------------------------------ building run() kwargs

def _schema_arguments(script: EntryScript, body: dict) -> tuple[dict[str, Any], frozenset]:
    kwargs, omitted = {}, set()
    for param in script.params:
        if param.name in body:
            kwargs[param.name] = body[param.name]
        elif param.default is inspect.Parameter.empty:
            raise InputError(400, f"A value is not provided for the {param.name!r} parameter.")
        else:
            kwargs[param.name] = param.default
            omitted.add(param.name)
    return kwargs, frozenset(omitted)


def build_arguments(script: EntryScript, environ: dict[str, str], body: bytes) -> tuple[dict[str, Any], frozenset]:
    """run()'s keyword arguments (without request_headers), and the omitted optional ones."""
    method = environ.get("REQUEST_METHOD", "GET")
    if script.mode == RAW:
        from .shims.aml_request import build_request
        return {script.input_param: build_request(environ, body)}, frozenset()

    if method not in ("GET", "POST"):
        raise MethodNotRouted(method)

    if script.mode == SCHEMA:
        if method == "GET":
            return _schema_arguments(script, query_parameters(environ))
        if not _is_json(environ):
            raise InputError(415, "Expects Content-Type to be application/json")
        if not body:
            raise InputError(400, "POST body is empty. Expecting a JSON dictionary.")
        try:
            parsed = json.loads(body)
        except UnicodeDecodeError as exc:
            raise InputError(400, f"POST body could not be decoded as JSON: {exc}") from None
        except json.JSONDecodeError as exc:
            raise InputError(400, f"POST body could not be decoded as JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise InputError(400, "POST body should be a JSON dictionary.")
        return _schema_arguments(script, parsed)

    if method == "GET":
        return {script.input_param: json.dumps(query_parameters(environ))}, frozenset()
    try:
        return {script.input_param: str(body, "utf-8")}, frozenset()
    except UnicodeDecodeError as exc:
        raise InputError(400, f"Input cannot be decoded as UTF-8: {exc}") from None


def call_run(script: EntryScript, kwargs: dict[str, Any], omitted: frozenset, environ: dict[str, str]) -> Any:
    if script.wants_headers:
        kwargs["request_headers"] = request_headers(environ)
    token = _omitted.set(omitted)
    try:
        return script.run(**kwargs)
    finally:
        _omitted.reset(token)
