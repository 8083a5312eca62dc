"""``AMLResponse`` (azureml.contrib.services.aml_response and
azureml_inference_server_http.api.aml_response), with azmlinfsrv's constructor semantics."""
from __future__ import annotations

import json

from flask import Response


class AMLResponse(Response):
    """A response a run() may return: passed to the client as it is.

    ``AMLResponse(message, status_code, response_headers={}, json_str=False)``: with
    ``json_str`` the message is JSON-encoded; ``None`` becomes ``{}``; a header value with
    commas becomes repeated headers.
    """

    def __init__(self, message, status_code, response_headers=None, json_str=False, run_function_failed=False):
        response_headers = response_headers or {}
        if message is None:
            super().__init__(json.dumps({}), status=status_code, mimetype="application/json")
        elif json_str:
            super().__init__(json.dumps(message), status=status_code, mimetype="application/json")
        else:
            super().__init__(message, status=status_code)
            if "Content-Type" in response_headers:
                self.headers.remove("Content-Type")
        self.headers["x-ms-run-function-failed"] = str(bool(run_function_failed))
        for header, value in response_headers.items():
            for item in str(value).split(","):
                self.headers.add_header(header, item.strip())
