"""Exporters of the telemetry exporter process: Application Insights (Azure Monitor exporter)
and OTLP/HTTP.

Imported only in the exporter process (:mod:`scorehost.telemetry_exporter`), never in the
front. The front sends plain tuples (formats in :mod:`scorehost.telemetry_channel`); items
are built here as the SDK's read-only types (``ReadableSpan``, ``ReadableLogRecord``) with
their real start/end times, and queued in :class:`Batcher`s (bounded; background threads
export them). No TracerProvider sits on any request path.

What goes where:

================================  ==========================  ===================================
item                              App Insights table          OTLP
================================  ==========================  ===================================
server span per request           ``requests`` (custom dims)  span ``/score`` (SERVER)
queue wait, run(), serialization  (not sent)                  child spans ``queue``/``run``/...
spans user code creates           ``dependencies``            spans under ``run``
exception from run()/init()       ``exceptions`` (stack)      exception event on ``run``
print()/logging in user code      ``traces`` (operation id)   (not sent)
model data (MDC / capture)        ``traces``                  (not sent)
================================  ==========================  ===================================
"""
from __future__ import annotations

import collections
import json
import json.encoder
import logging
import math
import os
import pickle
import threading
import time
from collections.abc import Callable
from typing import Any

from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from ._version import __version__
from .settings import Settings
from .telemetry_context import model_ids, new_span_id, new_trace_id

log = logging.getLogger("scorehost.telemetry")
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_SCOPE = InstrumentationScope("scorehost", __version__)
_USER_SCOPE = InstrumentationScope("scorehost.user", __version__)
_KINDS = {k.value: k for k in SpanKind}
_STATUS = {s.value: s for s in StatusCode}
_LEVELS = {logging.DEBUG: (SeverityNumber.DEBUG, "DEBUG"), logging.INFO: (SeverityNumber.INFO, "INFO"),
           logging.WARNING: (SeverityNumber.WARN, "WARNING"), logging.ERROR: (SeverityNumber.ERROR, "ERROR"),
           logging.CRITICAL: (SeverityNumber.FATAL, "CRITICAL")}

# The Azure Monitor exporter phones home (statsbeat, OneSettings control plane) unless told not
# to; scorehost only sends to the ingestion endpoint the user configured. Set them to "false"
# explicitly to opt back in.
_AZURE_QUIET = {"APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
                "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
                "APPLICATIONINSIGHTS_SDKSTATS_DISABLED": "true"}


class Batcher:
    """A bounded buffer drained by a background thread.

    ``add`` never blocks: when ``max_queue`` items are waiting, the new item is dropped and
    counted. The worker exports full batches of ``batch_size`` items as soon as one is waiting,
    and everything that waits every ``interval_s`` (and at flush/stop), as OpenTelemetry's
    batch processors do. Only full batches between intervals: each ingestion request costs the
    exporter a fixed ~1.5-2.5 ms of CPU, and while a request to a slow endpoint was in flight
    the next one used to take whatever had arrived meanwhile (measured with a loopback endpoint
    answering in ~40 ms, at 8 connections: 141 requests of 216 items on average instead of ~60
    of 512). A failed export drops that batch (counted) after the exporter's own retries;
    offline storage is off, so memory stays bounded.
    """

    def __init__(self, name: str, export: Callable[[list], Any], *, max_queue: int, batch_size: int,
                 interval_s: float, is_success: Callable[[Any], bool]):
        self.name = name
        self._export = export
        self._is_success = is_success
        self.max_queue = max_queue
        self.batch_size = batch_size
        self.interval_s = interval_s
        self.queue: collections.deque = collections.deque()
        self.dropped = 0
        self.exported = 0
        self._failures = 0
        self._stopped = False
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name=f"scorehost-export-{name}", daemon=True)
        self._thread.start()

    def add(self, item: Any) -> None:
        q = self.queue
        if len(q) >= self.max_queue or self._stopped:
            self.dropped += 1
            return
        q.append(item)
        if len(q) == self.batch_size:  # once per batch (Event.set takes a lock: ~3 µs per item otherwise)
            self._wake.set()

    def _loop(self) -> None:
        next_all = time.monotonic() + self.interval_s
        while not self._stopped:
            self._wake.wait(max(0.0, next_all - time.monotonic()))
            self._wake.clear()
            if self._stopped:
                break
            if time.monotonic() >= next_all:
                self.drain()
                next_all = time.monotonic() + self.interval_s
            else:
                self.drain(full_only=True)

    def drain(self, deadline: float | None = None, full_only: bool = False) -> None:
        """Export what is waiting, ``batch_size`` items per request; with ``full_only``, only
        full batches (the rest waits for the interval); stop after ``deadline`` (monotonic)."""
        minimum = self.batch_size if full_only else 1
        with self._lock:
            q = self.queue
            while len(q) >= minimum:
                n = min(len(q), self.batch_size)
                batch = [q.popleft() for _ in range(n)]
                try:
                    ok = self._is_success(self._export(batch))
                except Exception as exc:  # noqa: BLE001 -- an exporter bug must not kill the worker
                    ok = False
                    if self._failures == 0:
                        log.warning("Telemetry export to %s failed: %s", self.name, exc)
                if ok:
                    self.exported += n
                    self._failures = 0
                else:
                    self.dropped += n
                    if self._failures == 0:
                        log.warning("Telemetry export to %s failed; dropping %d items (counted in "
                                    "scorehost_telemetry_dropped_total; further failures are not logged "
                                    "until an export succeeds)", self.name, n)
                    self._failures += 1
                if deadline is not None and time.monotonic() > deadline:
                    return

    def flush(self, timeout_s: float) -> None:
        self.drain(time.monotonic() + timeout_s)

    def stop(self, timeout_s: float) -> None:
        self._stopped = True
        self._wake.set()
        self.drain(time.monotonic() + timeout_s)


NO_REQUEST_ID = "Unknown"  # azmlinfsrv's "Request Id" dimension of items without a request id

_SEMCONV_REQUEST_ATTRS = frozenset(("http.request.method", "http.route", "url.full", "url.path",
                                    "http.response.status_code"))


def request_attributes(dims: dict, method: str, route: str, url: str | None, status: int, response_value,
                       queue_ms, fn_ms, result_kind) -> dict:
    """The attributes of the front's request span (OTLP, and App Insights through the exporter's
    converter): azmlinfsrv's custom dimensions (``dims``) and the HTTP semantic conventions."""
    attrs = dict(dims)
    attrs.update({"http.request.method": method, "http.route": route, "url.full": url, "url.path": route,
                  "http.response.status_code": status, "http_method": method, "resultCode": str(status),
                  "success": status < 400})
    if response_value is not None:
        attrs["Response Value"] = response_value
    if queue_ms is not None:
        attrs["scorehost.queue_ms"] = round(queue_ms, 3)
        if fn_ms is not None:
            attrs["scorehost.run_ms"] = round(fn_ms, 3)
        attrs["scorehost.result"] = result_kind
    return attrs


def constant_dims_json(container_id: str, workspace: str, service_name: str, models_json: str) -> str:
    """The custom dimensions that are the same for every request, as the start of a JSON object."""
    return '{"Container Id": %s, "Workspace Name": %s, "Service Name": %s, "Models": %s' % (
        _quote(str(container_id)), _quote(str(workspace)), _quote(str(service_name)), _quote(models_json))


def request_properties_json(constant: str, request_id: str, client_request_id: str, method: str, status: int,
                            response_value, queue_ms, fn_ms, result_kind) -> str:
    """The request's App Insights custom dimensions, as the exporter's converter makes them from
    :func:`request_attributes` (strings, without the semantic-convention attributes), written
    as JSON directly (``constant`` from :func:`constant_dims_json`; ~3x cheaper than building a
    dict and encoding it). FastRequestExport checks at start that the two agree."""
    out = '%s, "Request Id": %s, "Client Request Id": %s, "http_method": %s, "resultCode": "%d", "success": "%s"' % (
        constant, _quote(request_id), _quote(client_request_id), _quote(method), status,
        "True" if status < 400 else "False")
    if response_value is not None:
        out += ', "Response Value": ' + _quote(response_value)
    if queue_ms is not None:
        out += ', "scorehost.queue_ms": "%s"' % _ms_str(queue_ms)
        if fn_ms is not None:
            out += ', "scorehost.run_ms": "%s"' % _ms_str(fn_ms)
        out += ', "scorehost.result": ' + _quote(result_kind)
    return out + "}"


def _ms_str(ms: float) -> str:
    """``str(round(ms, 3))`` (how the exporter's converter writes the attribute), ~2x cheaper:
    ``%.3f`` rounds the same binary value to the same three decimals (both correctly rounded),
    and below 1e12 the shortest repr of that number is those digits without trailing zeros."""
    if type(ms) is float and -1e12 < ms < 1e12:
        text = ("%.3f" % ms).rstrip("0")
        return text + "0" if text[-1] == "." else text
    return str(round(ms, 3))


class _Encoded:
    """One envelope, already encoded as JSON (ASCII text: every value goes through ``_quote``).
    The exporter's client gets a batch of these as one JSON body, encoded to bytes once per
    batch (see FastRequestExport._track); should the exporter ever serialize one itself (it does
    not with offline storage and SDK stats off), it reads as the envelope's dict."""

    __slots__ = ("raw",)
    _is_model = True  # what the exporter's JSON encoder checks before calling items()
    _attr_to_rest_field: dict = {}

    def __init__(self, raw: str):
        self.raw = raw

    def as_dict(self) -> dict:
        return json.loads(self.raw)

    def items(self):
        return self.as_dict().items()


_quote = json.encoder.encode_basestring_ascii  # str -> its JSON string literal (C)


class FastRequestExport:
    """App Insights export of the front's request spans without the exporter's model types.

    The Azure Monitor exporter builds generated model objects for every item and serializes
    them generically: ~0.3 ms of CPU per request item, most of this process's work. The front's
    request spans always have the same shape, so their envelopes are encoded here directly as
    the JSON the exporter would have sent (most of it a template made once; ~3x less CPU than
    building a dict and encoding it, measured), and sent through the exporter's own
    transmission (``_transmit``: same endpoint, auth, retries, redirects, rate limit; its client
    gets the batch as one pre-encoded JSON body). Other spans (user spans -> ``dependencies``)
    still go through the exporter's converter.

    Guarded: at start this class converts sample request spans both ways and compares the
    wire JSON; if they differ (another exporter version), or anything here is missing, the
    exporter's own ``export`` is used for everything (``self.enabled`` is False).
    """

    def __init__(self, exporter, resource):
        self.exporter = exporter
        self.enabled = False
        if any(os.environ.get(k, "").strip().lower() == "false" for k in _AZURE_QUIET):
            return  # sdkstats/statsbeat opted in: they expect the exporter's model objects
        try:
            from azure.monitor.opentelemetry.exporter import _utils as azure_utils
            from azure.monitor.opentelemetry.exporter._generated.exporter._utils.model_base import SdkJSONEncoder
            self._encoder = SdkJSONEncoder
            self._exporter_duration = azure_utils.ns_to_duration
            self.exporter._transmit  # noqa: B018 -- present?
            self.exporter._handle_transmit_from_storage  # noqa: B018
            probes = self._probes(resource)
            reference = [self._wire(exporter._span_to_envelope(span)) for span, _ in probes]
            sample = reference[0]
            base_tags = {k: v for k, v in sample["tags"].items() if not k.startswith("ai.operation.")}
            self._head = '{"name": %s, "iKey": %s, "tags": {%s' % (
                _quote(sample["name"]), _quote(sample["iKey"]),
                "".join("%s: %s, " % (_quote(k), _quote(v)) for k, v in base_tags.items()))
            self._original_track = exporter.client.track
            self.enabled = all(json.loads(self.envelope(span).raw) == ref == json.loads(self.encode(*fast).raw)
                               for (span, fast), ref in zip(probes, reference))
            if self.enabled:
                exporter.client.track = self._track
        except Exception as exc:  # noqa: BLE001 -- any surprise: use the exporter's own path
            log.debug("telemetry: fast request envelopes unavailable: %s", exc)
            self.enabled = False
        if not self.enabled:
            log.debug("telemetry: App Insights request items use the exporter's converter")

    def _wire(self, envelope) -> dict:
        return json.loads(json.dumps(envelope, cls=self._encoder, exclude_readonly=True))

    def _duration(self, ns: int) -> str:
        """The exporter's ``ns_to_duration``, with a shortcut for the usual sub-second case."""
        ms = (ns + 500_000) // 1_000_000
        if 0 <= ms < 1000:
            return "0.00:00:00.%03d" % ms
        return self._exporter_duration(ns)

    def _track(self, body, *args, **kwargs):
        """The exporter client's ``track``, taking a batch holding pre-encoded envelopes as one
        JSON body (the client sends bytes as they are)."""
        if isinstance(body, list) and any(type(e) is _Encoded for e in body):
            body = ("[" + ", ".join(e.raw if type(e) is _Encoded else
                                    json.dumps(e, cls=self._encoder, exclude_readonly=True)
                                    for e in body) + "]").encode()
        return self._original_track(body, *args, **kwargs)

    @staticmethod
    def _probes(resource) -> list:
        """(span as the exporter would get it, the fields the fast path builds from) pairs."""
        now = time.time_ns()
        out = []
        dims = {"Container Id": "c", "Request Id": "r", "Client Request Id": "", "Workspace Name": "w",
                "Service Name": "s", "Models": "[]"}
        constant = constant_dims_json("c", "w", "s", "[]")
        for status, parent, extra in ((200, 0x4D, ('{"a": 1}', 0.125, 1.5, "ok")), (404, None, (None,) * 4),
                                      (500, 0x1234, (None, 2.0, None, "user_error"))):
            fields = (dims, "POST", "/score", "http://127.0.0.1:5001/score?x=1", status) + extra
            trace_id, span_id = new_trace_id(), new_span_id()
            ctx = SpanContext(trace_id, span_id, False, _SAMPLED)
            parent_ctx = SpanContext(trace_id, parent, True, _SAMPLED) if parent else None
            start, end = now - 1_234_567, now
            span = ReadableSpan("/score", context=ctx, parent=parent_ctx, resource=resource,
                                attributes=request_attributes(*fields), kind=SpanKind.SERVER,
                                status=Status(StatusCode.ERROR) if status >= 500 else Status(StatusCode.UNSET),
                                start_time=start, end_time=end, instrumentation_scope=_SCOPE)
            fast = (trace_id, span_id, parent, start, end, "POST", "/score", fields[3], status, status >= 500,
                    request_properties_json(constant, "r", "", "POST", status, *extra))
            out.append((span, fast))
        return out

    def envelope(self, span) -> _Encoded:
        parent_id = span.parent.span_id if span.parent is not None else None
        attrs = span.attributes
        return self.encode(span.context.trace_id, span.context.span_id, parent_id, span.start_time, span.end_time,
                           attrs["http.request.method"], attrs["http.route"], attrs["url.full"],
                           int(attrs["http.response.status_code"]), span.status.status_code is StatusCode.ERROR,
                           json.dumps({k: str(v) for k, v in attrs.items() if k not in _SEMCONV_REQUEST_ATTRS}))

    def encode(self, trace_id: int, span_id: int, parent_id: int | None, start: int, end: int, method: str,
               route: str, url: str | None, status: int, is_error: bool, properties: str) -> _Encoded:
        """The RequestData envelope of a request span with these fields, as JSON (see
        request_item); ``properties``: the custom dimensions, a JSON object of strings."""
        name = _quote(f"{method} {route}")
        parent = '"ai.operation.parentId": "%016x", ' % parent_id if parent_id else ""
        return _Encoded((self._head + (
            '"ai.operation.id": "%032x", %s"ai.operation.name": %s}, "time": "%s", "data": {"baseData": {'
            '"ver": 2, "name": %s, "id": "%016x", "duration": "%s", "responseCode": "%d", "success": %s, '
            '"properties": %s, "measurements": {}, "url": %s}, "baseType": "RequestData"}}') % (
            trace_id, parent, name, _iso(start), name, span_id, self._duration(end - start), status,
            "false" if is_error or status >= 400 else "true", properties,
            "null" if url is None else _quote(url))))

    def export(self, spans: list):
        exp = self.exporter
        envelopes = []
        for span in spans:
            if type(span) is _Encoded:  # encoded by Exporters.request_item
                envelopes.append(span)
            elif span.kind is SpanKind.SERVER and span.instrumentation_scope is _SCOPE:
                envelopes.append(self.envelope(span))
            else:
                envelopes.append(exp._span_to_envelope(span))
                envelopes.extend(exp._span_events_to_envelopes(span))
        result = exp._transmit(envelopes)
        exp._handle_transmit_from_storage(envelopes, result)
        return result


_iso_second = [-1, ""]


def _iso(ns: int) -> str:
    """``datetime.fromtimestamp(ns / 1e9, tz=utc).isoformat()`` with ``Z`` for ``+00:00``, as the
    exporter's JSON encoder writes the envelope time, without building a datetime: the
    microseconds are rounded from the float ``ns / 1e9`` exactly as ``datetime.fromtimestamp``
    does (half to even), and the date and time of day are formatted once per second."""
    frac, whole = math.modf(ns / 1e9)
    second, micro = int(whole), round(frac * 1e6)
    if micro >= 1_000_000:
        second, micro = second + 1, micro - 1_000_000
    if _iso_second[0] != second:
        _iso_second[:] = [second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))]
    return "%s.%06dZ" % (_iso_second[1], micro) if micro else _iso_second[1] + "Z"


def _span_ok(result) -> bool:
    return getattr(result, "name", str(result)) == "SUCCESS"


class Exporters:
    def __init__(self, settings: Settings, *, appinsights: str | None, otlp: bool, otlp_logs: bool = False,
                 pid: int | None = None):
        self.settings = settings
        self.batchers: dict[tuple[str, str], Batcher] = {}
        self.ai_spans = self.ai_logs = self.otlp_spans = self.otlp_logs = None
        self.fast_requests = self._fast = None
        self.models = model_ids(settings.model_dir)
        self._models_json = json.dumps(self.models)
        self.container_id = settings.hostname
        self.workspace = settings.workspace_name
        self.service_name = settings.service_name
        self._constant_dims = constant_dims_json(self.container_id, self.workspace, self.service_name,
                                                 self._models_json)
        attrs = {"service.name": os.environ.get("OTEL_SERVICE_NAME") or settings.service_name,
                 "service.version": settings.service_version,
                 "service.instance.id": settings.hostname, "container.id": settings.hostname,
                 "host.name": settings.hostname, "process.pid": pid or os.getpid(),
                 "telemetry.distro.name": "scorehost", "telemetry.distro.version": __version__,
                 "azureml.models": tuple(self.models), "azureml.workspace": settings.workspace_name}
        self.resource = Resource.create(attrs)  # OTEL_RESOURCE_ATTRIBUTES / OTEL_SERVICE_NAME apply
        # The Azure exporter reads the global provider's resource for dependency items; this provider
        # has no processor (nothing creates spans through it).
        from opentelemetry import trace as trace_api
        from opentelemetry.sdk.trace import TracerProvider
        trace_api.set_tracer_provider(TracerProvider(resource=self.resource))
        common = {"max_queue": settings.telemetry_max_queue, "interval_s": settings.telemetry_export_interval_ms / 1000}
        if appinsights:
            for key, value in _AZURE_QUIET.items():
                os.environ.setdefault(key, value)
            from azure.monitor.opentelemetry.exporter import (
                AzureMonitorLogExporter,
                AzureMonitorTraceExporter,
            )
            opts = {"connection_string": appinsights, "disable_offline_storage": True, "timeout": 10.0}
            span_exp = AzureMonitorTraceExporter(**opts)
            log_exp = AzureMonitorLogExporter(**opts)
            self.fast_requests = FastRequestExport(span_exp, self.resource)
            self._fast = self.fast_requests if self.fast_requests.enabled else None
            export = self.fast_requests.export if self.fast_requests.enabled else span_exp.export
            # 512 items per request to the ingestion endpoint (OpenTelemetry's default batch): each
            # request costs ~1 ms of this process's CPU in the exporter's HTTP pipeline
            self.ai_spans = Batcher("appinsights/traces", export, batch_size=512, is_success=_span_ok, **common)
            self.ai_logs = Batcher("appinsights/logs", log_exp.export, batch_size=512, is_success=_span_ok,
                                   **common)
            self._ai_exporters = (span_exp, log_exp)
            self.batchers[("appinsights", "spans")] = self.ai_spans
            self.batchers[("appinsights", "logs")] = self.ai_logs
            # azure-core logs each failed HTTP attempt at WARNING; the batcher reports failures once
            for name in ("azure.core.pipeline.policies.http_logging_policy", "azure.monitor.opentelemetry.exporter",
                         "azure.core.pipeline.policies._universal"):
                logging.getLogger(name).setLevel(logging.ERROR)
            log.info("Application Insights: sending requests, exceptions and traces (endpoint %s)",
                     span_exp._endpoint)
        if otlp:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter,
            )
            exp = OTLPSpanExporter()
            self.otlp_spans = Batcher("otlp/traces", exp.export, batch_size=512, is_success=_span_ok, **common)
            self._otlp_exporter = exp
            self.batchers[("otlp", "spans")] = self.otlp_spans
            logging.getLogger("opentelemetry.exporter.otlp.proto.http.trace_exporter").setLevel(logging.ERROR)
            log.info("OpenTelemetry: exporting spans with OTLP/HTTP to %s", getattr(exp, "_endpoint", "?"))
            if otlp_logs:
                from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
                log_exp = OTLPLogExporter()
                self.otlp_logs = Batcher("otlp/logs", log_exp.export, batch_size=512, is_success=_span_ok, **common)
                self.batchers[("otlp", "logs")] = self.otlp_logs
                logging.getLogger("opentelemetry.exporter.otlp.proto.http._log_exporter").setLevel(logging.ERROR)
                log.info("OpenTelemetry: exporting print()/logging records and exceptions with OTLP/HTTP to %s",
                         getattr(log_exp, "_endpoint", "?"))

    # ------------------------------------------------------------------ runner events
    def _dims(self, request_id, client_request_id) -> dict:
        return {"Container Id": self.container_id, "Request Id": request_id or NO_REQUEST_ID,
                "Client Request Id": client_request_id or "", "Workspace Name": self.workspace,
                "Service Name": self.service_name, "Models": self._models_json}

    def runner_event(self, name: str, payload) -> None:
        if name == "span":
            span = self._span_from_event(payload)
            if self.otlp_spans is not None:
                self.otlp_spans.add(span)
            if self.ai_spans is not None and not payload.get("internal"):
                self.ai_spans.add(span)
        elif name == "log":
            self._emit_log(payload)
        elif name == "exception":
            self._emit_exception(payload)
        elif name == "model_data" and self.ai_logs is not None:
            self.model_data_item(payload.get("request_id"), payload.get("client_request_id"),
                                     payload.get("input"), payload.get("prediction"), payload.get("trace"),
                                     attrs=payload.get("attributes"))

    def _span_from_event(self, p: dict) -> ReadableSpan:
        trace_id = p["trace_id"]
        ctx = SpanContext(trace_id, p["span_id"], False, _SAMPLED)
        parent = SpanContext(trace_id, p["parent_id"], False, _SAMPLED) if p.get("parent_id") else None
        events = [Event(n, attrs, ts) for n, ts, attrs in p.get("events", ())]
        return ReadableSpan(p["name"], context=ctx, parent=parent, resource=self.resource,
                            attributes=p.get("attributes") or {}, events=events,
                            kind=_KINDS.get(p.get("kind", 0), SpanKind.INTERNAL),
                            status=Status(_STATUS.get(p.get("status", 0), StatusCode.UNSET), p.get("status_text")),
                            start_time=p["start"], end_time=p["end"],
                            instrumentation_scope=_SCOPE if p.get("internal") else
                            InstrumentationScope(p.get("scope") or "user", p.get("scope_version")))

    def _log_item(self, ts_ns: int, level: int, body: str, attrs: dict, trace) -> ReadableLogRecord:
        severity, text = _LEVELS.get(level, (SeverityNumber.INFO, logging.getLevelName(level)))
        if trace:
            record = LogRecord(timestamp=ts_ns, observed_timestamp=ts_ns, trace_id=trace[0], span_id=trace[1],
                               trace_flags=_SAMPLED, severity_text=text, severity_number=severity, body=body,
                               attributes=attrs)
        else:
            record = LogRecord(timestamp=ts_ns, observed_timestamp=ts_ns, severity_text=text,
                               severity_number=severity, body=body, attributes=attrs)
        return ReadableLogRecord(log_record=record, resource=self.resource, instrumentation_scope=_SCOPE)

    def _add_log(self, record: ReadableLogRecord) -> None:
        """A print()/logging record or an exception: App Insights (trace/exception) and OTLP logs."""
        if self.ai_logs is not None:
            self.ai_logs.add(record)
        if self.otlp_logs is not None:
            self.otlp_logs.add(record)

    def _emit_log(self, p: dict) -> None:
        attrs = {"Container Id": self.container_id, "Request Id": p.get("request_id") or "",
                 "Client Request Id": p.get("client_request_id") or "", "logger": p.get("logger", "")}
        self._add_log(self._log_item(p["time"], p.get("level", logging.INFO), p.get("message", ""), attrs,
                                     p.get("trace")))

    def _emit_exception(self, p: dict) -> None:
        attrs = {"Container Id": self.container_id, "Request Id": p.get("request_id") or NO_REQUEST_ID,
                 "Client Request Id": p.get("client_request_id") or "", "Stage": p.get("stage", ""),
                 "exception.type": p.get("type", "Exception"), "exception.message": p.get("message", ""),
                 "exception.stacktrace": p.get("traceback", "")}
        body = f"{p.get('type', 'Exception')}: {p.get('message', '')}"
        self._add_log(self._log_item(p.get("time") or time.time_ns(), logging.ERROR, body, attrs, p.get("trace")))

    def model_data_item(self, request_id, client_request_id, model_input, prediction, trace, attrs=None) -> None:
        dims = self._dims(request_id, client_request_id)
        dims["Input"] = model_input if isinstance(model_input, str) else json.dumps(model_input, default=repr)
        dims["Prediction"] = prediction if isinstance(prediction, str) else json.dumps(prediction, default=repr)
        if attrs:
            dims.update({k: v if isinstance(v, (str, int, float, bool)) else json.dumps(v, default=repr)
                         for k, v in attrs.items()})
        self.ai_logs.add(self._log_item(time.time_ns(), logging.INFO, "model_data_collection", dims, trace))

    # ------------------------------------------------------------------ items from the front
    def handle(self, item: tuple) -> None:
        """One plain item from the front (formats in scorehost.telemetry_channel)."""
        kind = item[0]
        if kind == "p":
            self.request_item(pickle.loads(item[1]))
        elif kind == "req":
            self.request_item(item)
        elif kind == "ev":
            self.runner_event(item[1], item[2])
        elif kind == "md" and self.ai_logs is not None:
            _, request_id, client_request_id, model_input, prediction, trace, attrs = item
            self.model_data_item(request_id, client_request_id, model_input, prediction, trace, attrs=attrs)

    def request_item(self, item: tuple) -> None:
        (_, end, duration_ms, trace, status_code, request_id, client_request_id, route, method, url,
         response_value, queue_ms, fn_ms, result_kind, model_data) = item
        start = end - int(duration_ms * 1e6)
        if trace is None:
            trace = (new_trace_id(), new_span_id(), None, None)
        trace_id, span_id, parent_id, called_ns = trace
        if called_ns and called_ns < start:  # end was read after the access log: keep children inside
            start = called_ns - 1000
        if self.ai_spans is None:
            response_value = None
        if self.otlp_spans is None and self._fast is not None:  # App Insights only: no span object needed
            props = request_properties_json(self._constant_dims, request_id or NO_REQUEST_ID, client_request_id or "",
                                            method, status_code, response_value, queue_ms, fn_ms, result_kind)
            self.ai_spans.add(self._fast.encode(trace_id, span_id, parent_id, start, end, method, route, url,
                                                status_code, status_code >= 500, props))
            if model_data is not None:
                self.model_data_item(request_id, client_request_id, model_data[0], model_data[1],
                                     (trace_id, span_id))
            return
        attrs = request_attributes(self._dims(request_id, client_request_id), method, route, url, status_code,
                                   response_value, queue_ms, fn_ms, result_kind)
        sctx = SpanContext(trace_id, span_id, False, _SAMPLED)
        parent = SpanContext(trace_id, parent_id, True, _SAMPLED) if parent_id else None
        status = Status(StatusCode.ERROR) if status_code >= 500 else Status(StatusCode.UNSET)
        span = ReadableSpan(route, context=sctx, parent=parent, resource=self.resource, attributes=attrs,
                            kind=SpanKind.SERVER, status=status, start_time=start, end_time=end,
                            instrumentation_scope=_SCOPE)
        if self.ai_spans is not None:
            self.ai_spans.add(span)
            if model_data is not None:
                self.model_data_item(request_id, client_request_id, model_data[0], model_data[1],
                                     (trace_id, span_id))
        if self.otlp_spans is not None:
            self.otlp_spans.add(span)
            if queue_ms is not None and called_ns:
                q_end = called_ns + int(queue_ms * 1e6)
                self.otlp_spans.add(ReadableSpan(
                    "queue", context=SpanContext(trace_id, new_span_id(), False, _SAMPLED), parent=sctx,
                    resource=self.resource, attributes={"scorehost.queue_ms": queue_ms},
                    kind=SpanKind.INTERNAL, start_time=called_ns, end_time=q_end, instrumentation_scope=_SCOPE))

    def counts(self) -> dict:
        """{(exporter, signal): (exported, dropped)}, cumulative."""
        return {key: (b.exported, b.dropped) for key, b in self.batchers.items()}

    # ------------------------------------------------------------------ shutdown
    def flush(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        for b in self.batchers.values():
            b.flush(max(0.0, deadline - time.monotonic()))

    def shutdown(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        for b in self.batchers.values():
            b.stop(max(0.0, deadline - time.monotonic()))
