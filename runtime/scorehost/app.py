"""The HTTP front: a Flask app that never imports or runs user code.

Routes, headers, status codes and error bodies are azmlinfsrv's (``GET /``, ``/score``,
``/swagger.json``, request-id headers, 404/405 JSON); scorehost adds ``/health/live``,
``/health/ready``, ``/health`` and ``/metrics``. ``/score`` reads the body (with a size limit
and a deadline), hands it to a runner through the :class:`~scorehost.dispatcher.Dispatcher`
and writes the runner's answer back, streaming it when the runner streams.

``POST``/``GET /score`` is the hot path, so it is written against plain WSGI
(:class:`ScoreHandler`) and served by :class:`FrontApp` without building Flask's request
context: measured on the echo benchmark, Flask's per-request machinery was about half of the
front's CPU per request. Every other route, and ``/score`` itself when CORS is configured
(flask-cors does the CORS work), goes through Flask; both paths share the same functions for
request ids, response headers, the access log and telemetry, so they answer identically.
"""
from __future__ import annotations

import hmac
import logging
import time
from functools import partial
from random import getrandbits
from typing import Any, Callable, Iterable, Iterator
from wsgiref.util import request_uri

from flask import Blueprint, Flask, Response, g, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wsgi import ClosingIterator

from . import protocol
from .deadlines import Expired, WaitTimeout, deadline
from .dispatcher import Call, Dispatcher, Unavailable
from .entry_script import RAW
from .logs import access_log, request_id_var
from .outputs import ID_HEADERS
from .schema import SwaggerDocs, SwaggerError
from .settings import Settings

log = logging.getLogger("scorehost.access")
HEADER_LIMIT = 100
_JSON = "application/json"
# The parts of the WSGI environ a runner needs to rebuild the request (plus HTTP_* headers).
_ENVIRON_KEYS = ("REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE", "CONTENT_LENGTH",
                 "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR", "REMOTE_PORT", "RAW_URI",
                 "wsgi.url_scheme")
_STATUS_LINES: dict[int, str] = {}


def status_line(code: int) -> str:
    line = _STATUS_LINES.get(code)
    if line is None:
        line = _STATUS_LINES[code] = f"{code} {HTTP_STATUS_CODES.get(code, 'UNKNOWN').upper()}"
    return line


def error_answer(status: int, message: str, *, run_failed: bool = False, headers=()) -> "Answer":
    return Answer(status, protocol.error_headers(run_failed) + list(headers), protocol.json_body({"message": message}))


class Answer:
    """What /score answers: status, headers, and a body (bytes) or a stream of chunks."""

    __slots__ = ("status", "headers", "body", "stream", "kind", "fn_ms", "queue_ms", "request_body", "item", "seq",
                 "queued_at", "traceparent")

    def __init__(self, status: int, headers: list, body: bytes = b"", stream: Iterator[bytes] | None = None,
                 kind: str = "error", fn_ms: float | None = None):
        self.status = status
        self.headers = headers
        self.body = body
        self.stream = stream
        self.kind = kind
        self.fn_ms = fn_ms
        self.queue_ms = 0.0
        self.request_body = b""
        self.item: bytes | None = None  # the request item the runner built (telemetry), from its RESULT
        self.seq = 0                    # the call's number; 0: it never went to a runner
        self.queued_at = 0.0            # when it began waiting for a runner (time.perf_counter)
        self.traceparent: str | None = None  # the client's header, as Hooks.before_call returned it

    # the small part of a Flask response's interface telemetry reads
    @property
    def status_code(self) -> int:
        return self.status

    @property
    def is_streamed(self) -> bool:
        return self.stream is not None

    def get_data(self, as_text: bool = False):
        return self.body.decode("utf-8") if as_text else self.body


def new_request_id() -> str:
    """A random (version 4) UUID, as azmlinfsrv generates. Request ids are not secrets, so the
    bits come from the ``random`` module rather than ``uuid.uuid4()``'s os.urandom (one system
    call per request)."""
    n = (getrandbits(128) & ~(0xF000 << 64) | (0x4000 << 64)) & ~(0xC000 << 48) | (0x8000 << 48)
    h = "%032x" % n
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Ids:
    """azmlinfsrv's request-id rules (x-request-id, x-ms-request-id, x-ms-client-request-id)."""

    __slots__ = ("request_id", "legacy", "client", "error")

    def __init__(self, environ: dict):
        self.request_id = self.legacy = self.client = ""
        self.error: str | None = None
        request_id = environ.get("HTTP_X_REQUEST_ID") or new_request_id()  # empty: generated (azmlinfsrv: none)
        if len(request_id) > HEADER_LIMIT:
            self.error = f"x-request-id must not exceed {HEADER_LIMIT} characters"
            return
        self.request_id = request_id
        legacy = environ.get("HTTP_X_MS_REQUEST_ID", "")
        client = environ.get("HTTP_X_MS_CLIENT_REQUEST_ID", "")
        if legacy:
            client = client or legacy
        else:
            legacy = client or request_id
        if len(legacy) > HEADER_LIMIT or len(client) > HEADER_LIMIT:
            self.error = (f"x-ms-request-id and x-ms-client-request-id must not exceed {HEADER_LIMIT} characters")
            return
        self.legacy, self.client = legacy, client

    def headers(self, environ: dict, server_version: str | None) -> list[tuple[str, str]]:
        out = []
        if server_version:
            out.append(("x-ms-server-version", server_version))
        if self.request_id:
            out.append(("x-request-id", self.request_id))
        if self.legacy:
            out.append(("x-ms-request-id", self.legacy))
        if self.client:
            out.append(("x-ms-client-request-id", self.client))
        trace_id = environ.get("HTTP_TRACEID")
        if trace_id is not None:
            out.append(("TraceId", trace_id))
        return out


class Hooks:
    """Per-request telemetry hook (replaced by scorehost.telemetry when enabled)."""

    enabled = False
    needs_url = False  # whether request_done must be given the request URL (~0.4 µs) when the answer has no item

    def before_call(self, environ: dict, ctx: dict, started: float) -> str | None:
        """Called before a request goes to a runner (``started``: ``time.perf_counter()`` when
        the front began reading it); may add to ``ctx``. When it adds ``started``, the front
        adds ``queued`` and ``sent_at`` too (the runner then builds the request's telemetry
        item). What it returns travels on the request's Answer (``Answer.traceparent``) to
        ``request_done``."""

    def request_done(self, route: str, method: str, url: str | None, status: int, duration_ms: float,
                     request_id: str, client_request_id: str, response: Any, answer: "Answer | None") -> None:
        """Called once the answer has been sent (``response``: the Answer, or the Flask response
        of a route other than /score, then ``answer`` is None). Must not raise: nothing is left
        to catch it but the WSGI server."""


class ReportingBody(list):
    """A WSGI body of one chunk whose ``close()``, which the server calls once the answer has been
    sent (PEP 3333; gunicorn does so also when the client went away), reports the request to
    telemetry: that work (metrics, the App Insights item) then happens while the answer is
    already on its way, not between run() and the client. Streams use werkzeug's
    ClosingIterator; for the one-chunk body it would cost ~1.9 µs per request against ~0.7 µs
    here (its ``__next__`` is Python code), measured iterating and closing as gunicorn does."""

    __slots__ = ("report",)

    @classmethod
    def of(cls, body: bytes, report: Callable[[], None]) -> "ReportingBody":
        reporting = cls((body,))  # list's own constructor: no __init__ in Python (~0.2 µs less)
        reporting.report = report
        return reporting

    def close(self) -> None:
        self.report()


class BodyError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class ScoreHandler:
    """/score in plain WSGI terms: authorisation, body limits, dispatch, deadline, answer."""

    def __init__(self, settings: Settings, dispatcher: Dispatcher, close_connection: Callable[[], None],
                 hooks: Hooks):
        self.settings = settings
        self.dispatcher = dispatcher
        self.hooks = hooks
        self.close_connection = close_connection
        self.api_key = settings.resolved_api_key()
        self.timeout_ms = settings.scoring_timeout_ms

    def authorized(self, environ: dict) -> bool:
        if self.api_key is None:
            return True
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.api_key.encode())

    @staticmethod
    def unauthorized() -> Answer:
        return error_answer(401, "Missing or wrong API key: send the header 'Authorization: Bearer <key>'.",
                            headers=[("WWW-Authenticate", 'Bearer realm="scorehost"')])

    def __call__(self, environ: dict, ids: Ids, started: float) -> Answer:
        if not self.authorized(environ):
            return self.unauthorized()
        method = environ["REQUEST_METHOD"]
        info = self.dispatcher.first_ready_info
        if info is not None and info["mode"] != RAW and method not in ("GET", "POST"):
            if method == "OPTIONS":
                return Answer(200, [("Content-Type", "text/html; charset=utf-8"),
                                    ("x-ms-run-function-failed", "False")], kind="ok")
            return error_answer(405, "Method not allowed")
        try:
            body = self.read_body(environ) if method != "GET" else b""
        except BodyError as exc:
            self.close_connection()
            return error_answer(exc.status, exc.message)
        ctx = {"request_id": ids.request_id, "client_request_id": ids.client, "timeout_ms": self.timeout_ms}
        traceparent = self.hooks.before_call(environ, ctx, started) if self.hooks.enabled else None
        queued_at = time.perf_counter()
        stamped = "started" in ctx  # the runner builds the telemetry item: it needs the clock readings
        if stamped:
            ctx["queued"] = queued_at
        try:
            call = self.dispatcher.submit(self.runner_environ(environ, info), body, ctx, stamp_sent=stamped)
        except Unavailable as exc:
            answer = error_answer(exc.status, exc.message,
                                  headers=[("Retry-After", str(exc.retry_after))] if exc.retry_after else ())
            answer.queued_at = queued_at
            answer.traceparent = traceparent
            return answer
        answer = self.await_answer(call)
        answer.queue_ms = (call.sent_at - queued_at) * 1000 if call.sent_at >= queued_at else 0.0
        answer.request_body = body
        answer.seq = call.seq
        answer.queued_at = queued_at
        answer.traceparent = traceparent
        return answer

    def read_body(self, environ: dict) -> bytes:
        limit = self.settings.max_request_bytes
        raw_length = environ.get("CONTENT_LENGTH")
        try:
            length = int(raw_length) if raw_length else None
        except ValueError:
            raise BodyError(400, f"Invalid Content-Length header: {raw_length!r}") from None
        if length is not None and length > limit:
            raise BodyError(413, f"The request body ({length} bytes) is larger than the limit of {limit} bytes "
                                 "(SCOREHOST_MAX_REQUEST_BYTES).")
        stream = environ["wsgi.input"]
        timer = deadline(self.settings.body_timeout_ms / 1000.0)
        try:
            with timer:
                if length is not None:
                    data = stream.read(length) if length else b""
                    if len(data) < length:
                        raise BodyError(400, "The request body ended before Content-Length bytes arrived.")
                    return data
                parts, size = [], 0
                while True:
                    chunk = stream.read(65536)
                    if not chunk:
                        return b"".join(parts)
                    size += len(chunk)
                    if size > limit:
                        raise BodyError(413, f"The request body is larger than the limit of {limit} bytes "
                                             "(SCOREHOST_MAX_REQUEST_BYTES).")
                    parts.append(chunk)
        except Expired as exc:
            if not timer.expired(exc):
                raise
            raise BodyError(408, f"The request body was not received within {self.settings.body_timeout_ms} ms "
                                 "(SCOREHOST_BODY_TIMEOUT_MS).") from None
        except (OSError, ValueError) as exc:  # client went away, or malformed chunked framing
            raise BodyError(400, f"The request body could not be read: {exc}") from None

    @staticmethod
    def runner_environ(environ: dict, info: dict | None) -> dict:
        """What the runner needs of the request: for an undecorated run() that takes no headers,
        only the method and query; otherwise the request line and every header."""
        if info is not None and info["mode"] != RAW and not info["wants_headers"]:
            return {"REQUEST_METHOD": environ["REQUEST_METHOD"], "QUERY_STRING": environ.get("QUERY_STRING", ""),
                    "CONTENT_TYPE": environ.get("CONTENT_TYPE", "")}
        out = {k: environ[k] for k in _ENVIRON_KEYS if k in environ}
        for key, value in environ.items():
            if key[:5] == "HTTP_":
                out[key] = value
        return out

    def await_answer(self, call: Call) -> Answer:
        timeout_ms = self.timeout_ms
        deadline = call.sent_at + timeout_ms / 1000.0
        try:
            first = call.get(deadline - time.perf_counter())
        except WaitTimeout:
            self.dispatcher.on_timeout(call)
            return error_answer(500, f"Scoring timeout after {timeout_ms} ms", run_failed=True)
        kind = first[0]
        if kind == protocol.RESULT:
            _, _, status, headers, body, fn_ms, result_kind, item = first
            if fn_ms is not None:
                headers = headers + [("x-ms-run-fn-exec-ms", f"{fn_ms:.3f}")]
            answer = Answer(status, headers, body, kind=result_kind, fn_ms=fn_ms)
            answer.item = item
            return answer
        if kind == "died":
            answer = error_answer(500, f"The runner process serving this request {first[1]}; the request was not "
                                       "completed and the runner is being replaced.", run_failed=True)
            answer.kind = "runner_died"
            return answer
        _, _, status, headers, fn_ms = first  # START: stream the chunks as the runner sends them
        headers = headers + [("x-ms-run-fn-exec-ms", f"{fn_ms:.3f}")]
        return Answer(status, headers, stream=self.stream_chunks(call, deadline), kind="ok", fn_ms=fn_ms)

    def stream_chunks(self, call: Call, deadline: float) -> Iterator[bytes]:
        while True:
            try:
                message = call.get(deadline - time.perf_counter())
            except WaitTimeout:
                self.dispatcher.on_timeout(call)
                log.error("Scoring timeout after %d ms while streaming; the response is cut short", self.timeout_ms)
                self.close_connection()
                return
            if message[0] == protocol.CHUNK:
                yield message[2]
                continue
            problem = message[1] if message[0] == "died" else message[2]
            if problem:
                log.error("The streamed response was cut short: %s", problem)
                self.close_connection()
            return


class RequestUrls:
    """The request's URL, as ``wsgiref.util.request_uri`` builds it (~4% of the front's CPU per
    request with App Insights on), cached by everything but the query string. The cache is
    bounded: the Host header is the client's."""

    def __init__(self, size: int = 256):
        self.size = size
        self.cache: dict[tuple, str] = {}

    def __call__(self, environ: dict) -> str:
        get = environ.get
        key = (get("wsgi.url_scheme"), get("HTTP_HOST"), get("SERVER_NAME"), get("SERVER_PORT"), get("SCRIPT_NAME"),
               get("PATH_INFO"))
        base = self.cache.get(key)
        if base is None:
            base = request_uri(environ, include_query=False)
            if len(self.cache) >= self.size:
                self.cache.clear()
            self.cache[key] = base
        query = get("QUERY_STRING")
        return base + "?" + query if query else base


def _path_with_query(environ: dict) -> str:
    query = environ.get("QUERY_STRING")
    return environ.get("PATH_INFO", "") + ("?" + query if query else "")


class FrontApp:
    """The WSGI application gunicorn runs: the /score fast path, everything else to Flask."""

    def __init__(self, settings: Settings, dispatcher: Dispatcher, *, close_connection: Callable[[], None],
                 hooks: Hooks | None = None, metrics: Callable[[], tuple[bytes, str]] | None = None):
        self.settings = settings
        self.dispatcher = dispatcher
        self.hooks = hooks or Hooks()
        self.server_version = settings.server_version_header
        self.score = ScoreHandler(settings, dispatcher, close_connection, self.hooks)
        self.fast_path = not settings.cors_origins
        self.urls = RequestUrls()
        self.flask_app = create_flask_app(self, metrics)

    def finish(self, environ: dict, route: str, ids: Ids, answer: Any, started: float) -> Callable[[], None] | None:
        """Access log line for one /score or /swagger.json request. Returns what reports it to
        telemetry (None when that is off): the caller runs it once the answer has been sent, when
        the WSGI server closes the body (see ReportingBody)."""
        duration_ms = (time.perf_counter() - started) * 1000
        length = "N/A" if answer.is_streamed else len(answer.get_data())
        access_log("%s %s %d %.3fms %s" % (environ["REQUEST_METHOD"], _path_with_query(environ),
                                            answer.status_code, duration_ms, length), ids.request_id)
        hooks = self.hooks
        if not hooks.enabled:
            return None
        own = answer if isinstance(answer, Answer) else None
        url = self.urls(environ) if hooks.needs_url and (own is None or own.item is None) else None  # else in the item
        return partial(hooks.request_done, route, environ["REQUEST_METHOD"], url, answer.status_code, duration_ms,
                       ids.request_id, ids.client, answer, own)

    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        if not (self.fast_path and environ["PATH_INFO"] == "/score" and method in ("POST", "GET", "OPTIONS")):
            return self.flask_app(environ, start_response)
        started = time.perf_counter()
        ids = Ids(environ)
        request_id_var.set(ids.request_id or None)
        answer = self.score(environ, ids, started) if ids.error is None else error_answer(431, ids.error)
        headers = answer.headers + ids.headers(environ, self.server_version)  # runners drop their own id headers
        if answer.stream is None:
            headers.append(("Content-Length", str(len(answer.body))))
        start_response(status_line(answer.status), headers)
        report = self.finish(environ, "/score", ids, answer, started)
        if report is None:
            return [answer.body] if answer.stream is None else answer.stream
        return ReportingBody.of(answer.body, report) if answer.stream is None else ClosingIterator(answer.stream, report)


def create_flask_app(front: FrontApp, metrics: Callable[[], tuple[bytes, str]] | None) -> Flask:
    settings, dispatcher = front.settings, front.dispatcher
    app = Flask("scorehost")
    bp = Blueprint("main", __name__)
    swagger: dict[str, SwaggerDocs] = {}

    def to_response(answer: Answer) -> Response:
        if answer.stream is not None:
            return Response(answer.stream, status=answer.status, headers=answer.headers, direct_passthrough=True)
        return Response(answer.body, status=answer.status, headers=answer.headers)

    def json_response(status: int, payload: Any, headers=None) -> Response:
        return Response(protocol.json_body(payload), status=status, mimetype=_JSON, headers=headers)

    # -------------------------------------------------------------- ids, headers, access log
    @bp.before_request
    def init_request() -> Response | None:
        g.started = time.perf_counter()
        g.route = None
        g.ids = ids = Ids(request.environ)
        request_id_var.set(ids.request_id or None)
        if ids.error is not None:
            return to_response(error_answer(431, ids.error))
        return None

    @bp.after_request
    def add_headers(response: Response) -> Response:
        h = response.headers
        for name, value in g.ids.headers(request.environ, front.server_version):
            if name.lower() in ID_HEADERS:  # replace a response's own (runners drop them on /score)
                h[name] = value
            else:
                h.add(name, value)
        if g.route:
            report = front.finish(request.environ, g.route, g.ids, g.get("answer") or response, g.started)
            if report is not None:
                response.call_on_close(report)
        return response

    # -------------------------------------------------------------- probes
    def not_ready() -> Response:
        status = dispatcher.status()
        reason = {"starting": "the model is loading: init() has not finished",
                  "recovering": "no runner is available: they are being replaced",
                  "draining": "the server is shutting down",
                  "failed": "the server failed"}.get(status, status)
        return json_response(503, {"status": status, "message": f"Not ready: {reason}."}, {"Retry-After": "1"})

    def is_ready() -> bool:
        return dispatcher.ready and not dispatcher.draining

    @bp.route("/", methods=["GET"])
    def health_probe():
        return "Healthy" if is_ready() else not_ready()

    @bp.route("/health/live", methods=["GET"])
    def live():
        return json_response(200, {"status": "live"})

    @bp.route("/health/ready", methods=["GET"])
    def ready():
        return json_response(200, {"status": "ready"}) if is_ready() else not_ready()

    @bp.route("/health", methods=["GET"])
    def health():
        return json_response(200, dispatcher.snapshot())

    if metrics is not None:
        @bp.route("/metrics", methods=["GET"])
        def metrics_route():
            body, content_type = metrics()
            return Response(body, content_type=content_type)

    # -------------------------------------------------------------- swagger
    def swagger_docs() -> SwaggerDocs | None:
        if "docs" not in swagger and dispatcher.first_ready_info is not None:
            swagger["docs"] = SwaggerDocs(
                app_root=settings.app_root, service_name=settings.service_name,
                service_version=settings.service_version, path_prefix=settings.service_path_prefix,
                schema=dispatcher.first_ready_info.get("schema"))
        return swagger.get("docs")

    @bp.route("/swagger.json", methods=["GET"])
    def get_swagger():
        g.route = "/swagger.json"
        if not front.score.authorized(request.environ):
            return to_response(front.score.unauthorized())
        docs = swagger_docs()
        if docs is None:
            return to_response(error_answer(503, "Swagger is not available yet: init() has not finished.",
                                            headers=[("Retry-After", "1")]))
        try:
            body = docs.get(request.args.get("version", "2"))
        except SwaggerError as exc:
            return to_response(error_answer(404, exc.message))
        return to_response(Answer(200, protocol.error_headers(False), body, kind="ok"))

    # -------------------------------------------------------------- scoring (when not on the fast path)
    @bp.route("/score", methods=["GET", "POST", "OPTIONS"], provide_automatic_options=False)
    def score():
        g.route = "/score"
        g.answer = answer = front.score(request.environ, g.ids, g.started)
        return to_response(answer)

    if settings.cors_origins:
        import flask_cors
        origins = [o.strip() for o in settings.cors_origins.split(",")]
        flask_cors.CORS(bp, methods=["GET", "POST"], origins=origins)
        logging.getLogger("scorehost").info("Enabling CORS for the following origins: %s", ", ".join(origins))
    app.register_blueprint(bp)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return to_response(error_answer(exc.code or 500, exc.description or exc.name))

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        logging.getLogger("scorehost").exception("Unexpected error while handling %s %s", request.method,
                                                 request.path)
        return to_response(error_answer(500, "An unexpected internal error occurred. Check the logs for more info."))

    return app
