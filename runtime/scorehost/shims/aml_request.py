"""``AMLRequest`` and ``@rawhttp`` (azureml.contrib.services.aml_request and
azureml_inference_server_http.api.aml_request, when those packages are not installed).

Importing this module imports Flask: only scripts that use @rawhttp pay for it.
"""
from __future__ import annotations

import io
import sys

from flask import Request

# azmlinfsrv's flag: set by @rawhttp on any function. scorehost also marks the function.
_rawHttpRequested = False


def rawhttp(func):
    """Make run() receive the whole HTTP request (an AMLRequest) instead of the parsed body."""
    global _rawHttpRequested
    _rawHttpRequested = True
    try:
        func.__scorehost_rawhttp__ = True
    except AttributeError:  # e.g. a wrapt proxy that refuses attributes
        pass
    return func


class AMLRequest(Request):
    """The request given to a @rawhttp run(): a Flask request (args, form, files, headers,
    get_data(), get_json() ...) rebuilt byte for byte from what the client sent."""


def build_request(environ: dict[str, str], body: bytes) -> AMLRequest:
    env = dict(environ)
    env.update({
        "wsgi.version": (1, 0),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,  # chunked bodies arrive whole: read to the end
    })
    env.setdefault("wsgi.url_scheme", "http")
    return AMLRequest(env)
