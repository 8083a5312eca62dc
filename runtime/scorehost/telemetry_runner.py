"""The runner's side of telemetry: spans, user logs and exception context, sent as EVENTs.

Loaded by a runner only when the front asks for it (``config["telemetry"]``), so a runner
with telemetry off never imports opentelemetry. The runner installs an OpenTelemetry SDK
TracerProvider as the global provider, so a script's own
``opentelemetry.trace.get_tracer(__name__).start_as_current_span(...)`` nests under the
request's ``run`` span, which is itself parented on the request's server span (its ids are
derived from the call's number, :meth:`RunnerTelemetry.enter`; the provider's tracers use it as
the parent of spans that have no other). The runner also builds that server span's own item,
the request item (:meth:`RunnerTelemetry.request_item`), and sends it with the RESULT.
Finished spans go to the front one EVENT each (``("span", {...})``) as they end; the front
exports them. With App Insights on, a logging handler on the print logger and the root logger
sends each record as an EVENT ``log`` with the request id and the current trace/span ids, so
print() and logging in user code become App Insights traces correlated with their request
(same operation id).
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import pickle
import time

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from . import logs
from .telemetry_context import CallTraceIds, request_trace, response_text

#: the CALL ctx of the request this thread serves
call_ctx: contextvars.ContextVar[dict | None] = contextvars.ContextVar("scorehost_call_ctx", default=None)
_SCOPES_INTERNAL = "scorehost"


def _call_parent():
    """The OpenTelemetry context holding the request's server span (from the CALL ctx), or None."""
    ctx = call_ctx.get()
    ids = ctx.get("trace") if ctx else None
    if not ids:
        return None
    span = NonRecordingSpan(SpanContext(ids[0], ids[1], True, TraceFlags(TraceFlags.SAMPLED)))
    return trace.set_span_in_context(span)


class _CallTracer(trace.Tracer):
    """A tracer whose spans, when nothing else is their parent, are children of the request's
    server span. Attaching that parent to the context of every call instead cost the runner
    ~8 µs per request whether or not anything was traced."""

    def __init__(self, tracer: trace.Tracer):
        self._tracer = tracer

    @staticmethod
    def _context(context):
        if context is None and not trace.get_current_span().get_span_context().is_valid:
            return _call_parent()
        return context

    def start_span(self, name, context=None, *args, **kwargs):
        return self._tracer.start_span(name, self._context(context), *args, **kwargs)

    @contextlib.contextmanager
    def start_as_current_span(self, name, context=None, *args, **kwargs):
        with self._tracer.start_as_current_span(name, self._context(context), *args, **kwargs) as span:
            yield span


class _CallTracerProvider(TracerProvider):
    def get_tracer(self, *args, **kwargs):
        return _CallTracer(super().get_tracer(*args, **kwargs))


def _plain(value):
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return str(value)


class _EventProcessor(SpanProcessor):
    """Sends each finished span to the front as a compact EVENT."""

    def __init__(self, send_event):
        self.send_event = send_event

    def on_end(self, span) -> None:
        ctx = span.context
        scope = span.instrumentation_scope
        payload = {
            "name": span.name, "trace_id": ctx.trace_id, "span_id": ctx.span_id,
            "parent_id": span.parent.span_id if span.parent is not None else None,
            "start": span.start_time, "end": span.end_time, "kind": span.kind.value,
            "status": span.status.status_code.value, "status_text": span.status.description,
            "attributes": {k: _plain(v) for k, v in (span.attributes or {}).items()},
            "events": [(e.name, e.timestamp, {k: _plain(v) for k, v in (e.attributes or {}).items()})
                       for e in span.events],
            "internal": scope is not None and scope.name == _SCOPES_INTERNAL,
            "scope": scope.name if scope is not None else None,
            "scope_version": scope.version if scope is not None else None,
        }
        self.send_event("span", payload)


class _EventLogHandler(logging.Handler):
    """print()/logging records -> EVENT ``log`` with request id and trace context."""

    def __init__(self, send_event, level=logging.INFO):
        super().__init__(level)
        self.send_event = send_event

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("scorehost", "opentelemetry", "azure", "urllib3")):
            return
        try:
            ctx = call_ctx.get()
            self.send_event("log", {
                "time": int(record.created * 1e9), "level": record.levelno, "logger": record.name,
                "message": record.getMessage() if not record.exc_info else
                record.getMessage() + "\n" + logging.Formatter().formatException(record.exc_info),
                "request_id": ctx.get("request_id") if ctx else logs.request_id_var.get(),
                "client_request_id": ctx.get("client_request_id") if ctx else None,
                "trace": current_trace(),
            })
        except Exception:  # noqa: BLE001 -- logging must never raise into user code
            self.handleError(record)


def _as_text(value) -> str:
    if isinstance(value, str):
        return value
    import json
    try:
        if hasattr(value, "to_dict") and not isinstance(value, dict):  # pandas
            value = value.to_dict(orient="records") if hasattr(value, "columns") else value.to_dict()
        elif hasattr(value, "tolist"):  # numpy
            value = value.tolist()
        return json.dumps(value, default=repr)
    except Exception:  # noqa: BLE001
        return repr(value)


def _plain_json(value):
    if isinstance(value, (str, bool, int, float)):
        return value
    import json
    return json.dumps(value, default=repr)


def current_trace() -> tuple[int, int] | None:
    sc = trace.get_current_span().get_span_context()
    if sc.is_valid:
        return sc.trace_id, sc.span_id
    ctx = call_ctx.get()
    ids = ctx.get("trace") if ctx else None
    return (ids[0], ids[1]) if ids else None


class RunnerTelemetry:
    def __init__(self, send_event, config: dict):
        self.send_event = send_event
        self.call_ids = CallTraceIds(bytes.fromhex(config["trace_key"]))
        self.log_response = bool(config.get("log_response"))
        self.model_data_items = bool(config.get("model_data"))
        self.provider = _CallTracerProvider(resource=Resource.create({}))
        self.provider.add_span_processor(_EventProcessor(send_event))
        trace.set_tracer_provider(self.provider)
        self.tracer = self.provider.get_tracer(_SCOPES_INTERNAL)
        self.internal_spans = bool(config.get("internal_spans", True))
        if config.get("logs"):
            handler = _EventLogHandler(send_event)
            logging.getLogger(logs.PRINT_LOGGER).addHandler(handler)
            logging.getLogger().addHandler(handler)
        if config.get("model_data"):
            from . import datacollection
            datacollection.event_sink = self.model_data

    def model_data(self, record: dict) -> None:
        """A ModelDataCollector.collect() record -> EVENT ``model_data`` (an App Insights
        ``model_data_collection`` trace in the request's operation), as well as the JSONL file."""
        data = record.get("data")
        designation = record.get("designation") or ""
        attrs = {"Model Name": record.get("model_name"), "Model Version": record.get("model_version"),
                 "Designation": designation, "Identifier": record.get("identifier"),
                 "Correlation Id": (record.get("correlation") or {}).get("correlation_id")}
        if record.get("feature_names") is not None:
            attrs["Feature Names"] = record["feature_names"]
        is_prediction = "prediction" in designation.lower() or "output" in designation.lower()
        data = _as_text(data)  # only plain values cross the channel (no numpy/pandas in the front)
        payload = self.annotate({"input": "" if is_prediction else data, "prediction": data if is_prediction else "",
                                 "attributes": {k: _plain_json(v) for k, v in attrs.items() if v is not None}})
        if payload.get("request_id") is None:
            payload["request_id"] = record.get("request_id")
        self.send_event("model_data", payload)

    # -- per call
    def enter(self, seq: int, ctx: dict, environ: dict, body: bytes):
        """Start serving call ``seq``: its trace context (the ids the front would derive for it,
        under the client's trace when it sent a ``traceparent``) and what its request item needs."""
        ctx["trace"] = request_trace(self.call_ids(seq), ctx.get("traceparent"))
        ctx["method"] = environ.get("REQUEST_METHOD", "")
        ctx["body"] = body
        return call_ctx.set(ctx)

    def exit(self, token) -> None:
        call_ctx.reset(token)

    def span(self, name: str):
        """scorehost's own span ``name`` (the runner calls this only with ``internal_spans`` on)."""
        return self.tracer.start_as_current_span(name, record_exception=True, set_status_on_exception=True)

    def request_item(self, status: int, body: bytes, fn_ms: float | None, kind: str) -> bytes | None:
        """The App Insights/OTLP request item of the call being answered (format in
        scorehost.telemetry_channel), pickled; None when the front did not ask for it (its
        ``started`` is not in the CALL ctx). The times come from the front: ``started`` and
        ``queued`` are its clock readings (``time.perf_counter``: CLOCK_MONOTONIC, the same in
        every process of a Linux machine) when it began reading the request and when it asked
        for a runner, ``sent_at`` when it sent the call. The duration ends here, as the answer
        leaves the runner: the front's last step (reading the answer, writing it to the client),
        some tens of µs, is not in it."""
        ctx = call_ctx.get()
        if ctx is None or "started" not in ctx:
            return None
        now, end = time.perf_counter(), time.time_ns()
        queued = ctx["queued"]
        sent = ctx.get("sent_at", queued)
        trace_id, span_id, parent_id = ctx["trace"]
        response_value = model_data = None
        if self.log_response:
            response_value = response_text(body)
        if self.model_data_items and status < 400:
            model_data = (ctx["body"].decode("utf-8", "replace"), body.decode("utf-8", "replace"))
        called_ns = end - int((now - queued) * 1e9)  # the wall-clock time the front asked for a runner
        item = ("req", end, (now - ctx["started"]) * 1000, (trace_id, span_id, parent_id, called_ns), status,
                ctx["request_id"], ctx["client_request_id"], "/score", ctx["method"], ctx.get("url"),
                response_value, max(0.0, (sent - queued) * 1000), fn_ms, kind, model_data)
        return pickle.dumps(item, pickle.HIGHEST_PROTOCOL)

    def annotate(self, payload: dict) -> dict:
        """Add the request ids and trace context to an EVENT payload (exceptions)."""
        ctx = call_ctx.get()
        payload.setdefault("time", time.time_ns())
        payload["request_id"] = ctx.get("request_id") if ctx else None
        payload["client_request_id"] = ctx.get("client_request_id") if ctx else None
        payload["trace"] = current_trace()
        return payload

