"""Turning run()'s return value into an HTTP answer (status, headers, body).

User-code layer: no web framework is imported here. A Flask/Werkzeug response object
(``AMLResponse``, ``flask.Response``) is recognised only if the script itself imported
Werkzeug.

JSON is written as azmlinfsrv writes it (``json.dumps`` defaults: ASCII-escaped, ", " and
": " separators; ``None`` -> ``{}``; a ``str`` -> a JSON string). Where azmlinfsrv fails with
a generic 500 or emits invalid JSON, scorehost answers (docs/compat.md):

- numpy arrays and scalars -> lists and numbers; bytes -> text if UTF-8, else base64;
  set/frozenset -> list; datetime/date/time -> ISO 8601; Decimal -> number; UUID/Path -> str;
  pandas DataFrame -> list of records, Series/Index -> list;
- NaN and +/-Infinity -> ``null`` (they are not JSON);
- anything else -> 500 naming the type, flagged ``x-ms-run-function-failed: True``.
"""
from __future__ import annotations

import base64
import datetime
import decimal
import json
import math
import sys
import uuid
from pathlib import PurePath
from typing import Any, Iterator

JSON_HEADERS = [("Content-Type", "application/json"), ("x-ms-run-function-failed", "False")]

#: the request id headers the front sets on every answer (a response's own values are replaced,
#: as in azmlinfsrv)
ID_HEADERS = frozenset({"x-request-id", "x-ms-request-id", "x-ms-client-request-id"})
# Hop-by-hop and framing headers are the front's business, and so are the id headers: dropped
# here, where user code's headers are read, so the front need not filter every answer.
_DROP = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"}) | ID_HEADERS


class NotSerializable(TypeError):
    pass


def _default(obj: Any) -> Any:
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(obj, np.ndarray):
            return obj.tolist()
        if isinstance(obj, np.generic):
            return obj.item()
    pd = sys.modules.get("pandas")
    if pd is not None:
        if isinstance(obj, pd.DataFrame):
            return obj.to_dict(orient="records")
        if isinstance(obj, (pd.Series, pd.Index)):
            return obj.tolist()
        if isinstance(obj, pd.Timestamp):
            return obj.isoformat()
    if isinstance(obj, (bytes, bytearray, memoryview)):
        raw = bytes(obj)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(raw).decode("ascii")
    if isinstance(obj, (set, frozenset)):
        try:
            return sorted(obj)
        except TypeError:
            return list(obj)
    if isinstance(obj, (datetime.datetime, datetime.date, datetime.time)):
        return obj.isoformat()
    if isinstance(obj, decimal.Decimal):
        return int(obj) if obj == obj.to_integral_value() and obj.is_finite() else float(obj)
    if isinstance(obj, (uuid.UUID, PurePath)):
        return str(obj)
    raise NotSerializable(f"Object of type {type(obj).__name__} is not JSON serializable")


def _finite(obj: Any) -> Any:
    """A copy of ``obj`` with non-finite floats replaced by None (only used on the slow path)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    try:
        converted = _default(obj)
    except NotSerializable:
        return obj
    return _finite(converted)


# One encoder for every call: json.dumps() with non-default options builds a new one each time.
_ENCODER = json.JSONEncoder(default=_default, allow_nan=False)


def to_json(value: Any) -> bytes:
    """azmlinfsrv-compatible JSON for a run() result; raises NotSerializable."""
    if value is None:
        return b"{}"
    try:
        text = _ENCODER.encode(value)
    except ValueError as exc:
        if "Out of range float" not in str(exc) and "JSON compliant" not in str(exc):
            raise NotSerializable(str(exc)) from None
        text = _ENCODER.encode(_finite(value))
    except TypeError as exc:  # e.g. non-string dict keys of an unsupported type
        raise NotSerializable(str(exc)) from None
    return text.encode("utf-8")


def is_response(value: Any) -> bool:
    werkzeug = sys.modules.get("werkzeug.wrappers.response")
    return werkzeug is not None and isinstance(value, werkzeug.Response)


def response_parts(response: Any) -> tuple[int, list[tuple[str, str]], bytes | None, Iterator[bytes] | None]:
    """(status, headers, body, stream) of a Werkzeug response; exactly one of body/stream is set.

    As azmlinfsrv: a status >= 500 sets ``x-ms-run-function-failed: True``.
    """
    status = int(response.status_code)
    if status >= 500:
        response.headers["x-ms-run-function-failed"] = "True"
    headers = [(k, str(v)) for k, v in response.headers.items() if k.lower() not in _DROP]
    if response.is_streamed:
        return status, headers, None, iter(response.iter_encoded())
    return status, headers, response.get_data(), None
