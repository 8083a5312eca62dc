"""Swagger / OpenAPI documents for GET /swagger.json, as azmlinfsrv serves them.

Two halves:

- :func:`describe_schema` runs in the runner (it needs the decorated run()): it reads the
  input/output schemas and supported versions that inference-schema recorded;
- :class:`SwaggerDocs` runs in the front: it fills the service template (Swagger 2.0,
  OpenAPI 3.0.3, OpenAPI 3.1.0) with those schemas, or serves the user's own
  ``swagger.json``/``swagger2.json``/``swagger3.json``/``swagger3.1.json`` from the app root.

Neither half imports a web framework.
"""
from __future__ import annotations

import copy
import json
import logging
import os
import sys
from typing import Any, Callable

log = logging.getLogger("scorehost.swagger")

ALL_VERSIONS = ["2.0", "3.0", "3.1"]
UNDECORATED_SCHEMA = {"type": "object", "example": {}}


def describe_schema(run: Callable) -> dict:
    """Schemas and swagger versions of a run() function (plain JSON values)."""
    if "inference_schema" not in sys.modules:
        return {"decorated": False, "input": UNDECORATED_SCHEMA, "output": UNDECORATED_SCHEMA,
                "versions": ALL_VERSIONS}
    from inference_schema.schema_util import (get_input_schema, get_output_schema, get_supported_versions,
                                              is_schema_decorated)
    versions = list(get_supported_versions(run))
    if not is_schema_decorated(run):
        return {"decorated": False, "input": UNDECORATED_SCHEMA, "output": UNDECORATED_SCHEMA, "versions": versions}
    return {"decorated": True, "input": get_input_schema(run), "output": get_output_schema(run), "versions": versions}


# ------------------------------------------------------------------ templates

_ERROR_DEFAULT = "The service failed to execute due to an error."
_HEALTH_DOC = "Simple health check endpoint to ensure the service is up at any given point."
_HEALTH_200 = "If service is up and running, this response will be returned with the content 'Healthy'"
_SCORE_DOC = "Run web service's model and get the prediction output"
_PAYLOAD_DOC = "The input payload for executing the real-time machine learning service."
_SCORE_200 = "The service processed the input correctly and provided a result prediction, if applicable."
_BEARER = {"type": "apiKey", "name": "Authorization", "in": "header", "description": "For example: Bearer abc123"}
_DEFAULT_INPUT = {"type": "object", "properties": {"param": {"type": "object", "additionalProperties": {"type": "object"}}}}
_DEFAULT_OUTPUT = {"type": "object", "additionalProperties": {"type": "object"}}
_ERROR_SCHEMA = {"type": "object", "properties": {"message": {"type": "string"}}}


def _info(name: str, version: str) -> dict:
    return {"title": name, "description": f"API specification for the Azure Machine Learning service {name}",
            "version": version}


def swagger2(name: str, version: str, prefix: str, input_schema: Any, output_schema: Any) -> dict:
    error = {"description": _ERROR_DEFAULT, "schema": {"$ref": "#/definitions/ErrorResponse"}}
    return {
        "swagger": "2.0",
        "info": _info(name, version),
        "schemes": ["https"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "securityDefinitions": {"Bearer": dict(_BEARER)},
        "paths": {
            f"{prefix}/": {"get": {
                "operationId": "ServiceHealthCheck", "description": _HEALTH_DOC,
                "responses": {"200": {"description": _HEALTH_200, "schema": {"type": "string"},
                                      "examples": {"application/json": "Healthy"}},
                              "default": copy.deepcopy(error)}}},
            f"{prefix}/score": {"post": {
                "operationId": "RunMLService", "description": _SCORE_DOC, "security": [{"Bearer": []}],
                "parameters": [{"name": "serviceInputPayload", "in": "body", "description": _PAYLOAD_DOC,
                                "schema": {"$ref": "#/definitions/ServiceInput"}}],
                "responses": {"200": {"description": _SCORE_200, "schema": {"$ref": "#/definitions/ServiceOutput"}},
                              "default": copy.deepcopy(error)}}},
            f"{prefix}/swagger.json": {"get": {
                "operationId": "GetSwaggerSpec", "description": "Get the Swagger specification.",
                "parameters": [{"name": "version", "in": "query", "required": False, "type": "integer",
                                "enum": [2, 3]}],
                "responses": {"200": {"description": "The Swagger specification.", "schema": {"type": "string"}},
                              "default": copy.deepcopy(error)}}},
        },
        "definitions": {"ServiceInput": copy.deepcopy(input_schema), "ServiceOutput": copy.deepcopy(output_schema),
                        "ErrorResponse": copy.deepcopy(_ERROR_SCHEMA)},
    }


def openapi3(name: str, version: str, prefix: str, input_schema: Any, output_schema: Any,
             openapi: str = "3.0.3") -> dict:
    def error():
        return {"description": _ERROR_DEFAULT,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
    return {
        "openapi": openapi,
        "info": _info(name, version),
        "security": [{"Bearer": []}],
        "paths": {
            f"{prefix}/": {"get": {
                "operationId": "ServiceHealthCheck", "description": _HEALTH_DOC,
                "responses": {"200": {"description": _HEALTH_200,
                                      "content": {"text/plain": {"schema": {"type": "string", "example": "Healthy"}}}},
                              "default": error()}}},
            f"{prefix}/score": {"post": {
                "operationId": "RunMLService", "description": _SCORE_DOC, "security": [{"Bearer": []}],
                "requestBody": {"description": _PAYLOAD_DOC, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/ServiceInput"}}}},
                "responses": {"200": {"description": _SCORE_200, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/ServiceOutput"}}}},
                              "default": error()}}},
            f"{prefix}/swagger.json": {"get": {
                "operationId": "GetSwaggerSpec", "description": "Get the Swagger specification.",
                "parameters": [{"name": "version", "in": "query", "required": False,
                                "schema": {"type": "integer", "enum": [2, 3]}}],
                "responses": {"200": {"description": "The Swagger specification.",
                                      "content": {"text/plain": {"schema": {"type": "string"}}}},
                              "default": error()}}},
        },
        "components": {
            "schemas": {"ServiceInput": copy.deepcopy(input_schema), "ServiceOutput": copy.deepcopy(output_schema),
                        "ErrorResponse": copy.deepcopy(_ERROR_SCHEMA)},
            "securitySchemes": {"Bearer": dict(_BEARER)},
        },
    }


class SwaggerError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# builder version -> (aliases, user file names in the app root, inference-schema version)
_BUILDERS = {
    "2": ({"2", "2.0"}, ("swagger.json", "swagger2.json"), "2.0"),
    "3": ({"3", "3.0"}, ("swagger3.json",), "3.0"),
    "3.1": ({"3.1"}, ("swagger3.1.json",), "3.1"),
}


class SwaggerDocs:
    """The documents for one entry script, built once from the runner's schema description."""

    def __init__(self, *, app_root: str, service_name: str, service_version: str, path_prefix: str,
                 schema: dict | None):
        schema = schema or {"decorated": False, "input": UNDECORATED_SCHEMA, "output": UNDECORATED_SCHEMA,
                            "versions": ALL_VERSIONS}
        prefix = f"/{path_prefix.strip('/')}" if path_prefix else ""
        self.docs: dict[str, bytes] = {}
        supported, skipped = [], []
        for version, (aliases, files, schema_version) in _BUILDERS.items():
            doc = self._user_file(app_root, files, version)
            if doc is None and schema_version in schema["versions"]:
                args = (service_name, service_version, prefix, schema["input"], schema["output"])
                if version == "2":
                    doc = swagger2(*args)
                else:
                    doc = openapi3(*args, openapi="3.1.0" if version == "3.1" else "3.0.3")
            if doc is None:
                skipped.append(version)
                continue
            encoded = json.dumps(doc).encode("utf-8")
            for alias in aliases:
                self.docs[alias] = encoded
            supported.append(version)
        self.supported = sorted(supported)
        self.valid = set().union(*(aliases for aliases, _, _ in _BUILDERS.values()))
        if supported and skipped:
            log.info("Swaggers are prepared for versions [%s] and skipped for versions [%s].",
                     ", ".join(self.supported), ", ".join(sorted(skipped)))
        elif supported:
            log.info("Swaggers are prepared for the following versions: [%s].", ", ".join(self.supported))
        else:
            log.info("No swagger is prepared.")

    @staticmethod
    def _user_file(app_root: str, names: tuple[str, ...], version: str) -> Any:
        for name in names:
            path = os.path.join(app_root, name)
            try:
                with open(path, encoding="utf-8") as fh:
                    doc = json.load(fh)
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as exc:
                log.error("Ignoring the swagger file %s: %s", path, exc)
                continue
            log.info("Loaded user's swagger file for version [%s] from %s", version, path)
            return doc
        return None

    def get(self, version: str) -> bytes:
        if version not in self.valid:
            raise SwaggerError(f"Swagger version [{version}] is not valid. "
                               f"Supported versions: [{', '.join(self.supported)}].")
        doc = self.docs.get(version)
        if doc is None:
            raise SwaggerError(f"Swagger version [{version}] is not supported for the scoring script. "
                               f"Supported swagger versions: [{', '.join(self.supported)}].")
        return doc
