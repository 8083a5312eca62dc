"""Telemetry wiring for the front (App Insights, OpenTelemetry, Prometheus, data collection).

This module is the seam between the request path and the exporters: the dispatcher reports
runner state and runner EVENTs to ``observer``, the app reports each scoring request to
``hooks`` (``before_call`` puts what the runner needs for the request's telemetry item into
the CALL ctx, ``request_done`` records the finished request), and ``metrics()`` renders /metrics.

Where telemetry is produced and exported, and why:

* **Runners never export.** They build the App Insights/OTLP item of each request they answer
  and send it, pickled, with the RESULT (see ``_FrontTelemetry``), and they send compact EVENTs
  over their existing channel (``Runner.send_event``): ``exception`` (type, message, user stack, request ids, trace
  context), ``log`` (one print()/logging record with its request id and trace context),
  ``span`` (run()/serialization/user spans, finished) and ``model_data``
  (``ModelDataCollector.collect`` with App Insights model data on). Exporting from each runner
  would mean N sets of exporter threads, N HTTP connections and N flushes at shutdown, each
  racing a runner that may be killed at a timeout. Killed runners still have their finished
  spans and logs delivered, because each is sent as soon as it ends.
* **Exporting is not in the front either.** App Insights and OTLP export run in one exporter
  process (:mod:`scorehost.telemetry_exporter`, low CPU priority) that the front starts and
  supervises (:mod:`scorehost.telemetry_channel`). The Azure Monitor exporter's conversion costs
  0.3-0.7 ms of CPU per item; in the front it was taken from serving requests (App Insights on:
  2.6x the front's CPU per request, 0.4-0.6x the req/s). The request path only appends one
  tuple of plain values to a bounded deque; a greenlet ships batches to the exporter process
  without ever waiting on it. Full buffers, a channel that would block, and an exporter process
  that died drop items and count them (``scorehost_telemetry_dropped_total``) instead of
  blocking or growing; a dead or black-holed ingestion endpoint costs no request any latency
  (tests/telemetry).
* **Off costs nothing.** With App Insights, OTLP and data collection off, there is no exporter
  process and this module imports neither opentelemetry nor azure (the front never imports
  them at all), and the hooks are the no-op defaults. Prometheus is imported only when /metrics is on.
* **One Prometheus registry, in the front.** The front is one process; per-request numbers
  (route, status, latency, queue wait, run time from the RESULT's ``fn_ms``) are all known
  there, runner states/restarts/timeouts come from the dispatcher, so no multiprocess
  directory is needed.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Any

from .app import Hooks, RequestUrls
from .dispatcher import Observer
from .settings import Settings
from .telemetry_context import (
    RESPONSE_NOT_TEXT,
    RESPONSE_STREAMED,
    CallTraceIds,
    new_span_id,
    new_trace_id,
    new_trace_key,
    request_trace,
    response_text,
)

log = logging.getLogger("scorehost.telemetry")

# ------------------------------------------------------------------ configuration

def otlp_enabled(settings: Settings) -> bool:
    env = os.environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() in ("none", ""):
        return False
    return bool(settings.otlp_endpoint)


def otlp_logs_enabled(settings: Settings) -> bool:
    """OTLP export of print()/logging records and exceptions from user code (OTEL_LOGS_EXPORTER,
    "otlp" by default as the OpenTelemetry spec says; "none" turns it off)."""
    return otlp_enabled(settings) and os.environ.get("OTEL_LOGS_EXPORTER", "otlp").strip().lower() not in ("none", "")


def appinsights_connection_string(settings: Settings) -> str | None:
    if settings.app_insights_connection_string:
        return settings.app_insights_connection_string
    if settings.app_insights_enabled and settings.app_insights_key:
        return f"InstrumentationKey={settings.app_insights_key}"
    return None


# ------------------------------------------------------------------ the front's telemetry

class Telemetry:
    """Everything the front reports; the default instance (all off) does nothing."""

    def __init__(self, observer: Observer | None = None, hooks: Hooks | None = None, metrics_source=None,
                 exporters=None):
        self.observer = observer or Observer()
        self.hooks = hooks or Hooks()
        self._metrics_source = metrics_source
        self._exporters = exporters

    def metrics(self) -> tuple[bytes, str]:
        if self._metrics_source is None:
            return b"", "text/plain; version=0.0.4; charset=utf-8"
        return self._metrics_source.render()

    def runner_config(self) -> dict[str, Any] | None:
        """What runners must produce (sent in the runner config; None: nothing)."""
        if self._exporters is None:
            return None
        return self.hooks.runner_config()

    def flush(self, timeout_s: float = 5.0) -> None:
        if self._exporters is not None:
            self._exporters.flush(timeout_s)

    def shutdown(self, timeout_s: float = 5.0) -> None:
        if self._exporters is not None:
            self._exporters.shutdown(timeout_s)


class _FrontTelemetry(Observer, Hooks):
    """The enabled hooks: fans each event out to metrics, exporters and data collection.

    Who builds a /score request's App Insights/OTLP item: the runner that answered it, when
    it answered with a RESULT (nearly always). The front puts the request's clock readings,
    URL and client ``traceparent`` into the CALL ctx (:meth:`before_call`); the runner derives
    the trace ids from the call's number (:class:`~scorehost.telemetry_context.CallTraceIds`),
    builds the item, pickles it and sends it with the RESULT, and the front ships those bytes to
    the exporter process as they are. The front builds the item itself only when it answers
    without a RESULT (scoring timeout, runner died, streamed answer, no runner free, refused
    before dispatch, /swagger.json), with the same ids for the same call, so print()/logging
    traces and spans of a timed-out run() stay in its request's operation. A late RESULT of a
    call the front already answered is dropped with its item: one item per request.

    Why: the front is one process that serves every runner, and at 8 connections on the echo
    benchmark it is the busy one (~100% of a core, with ~0.5 of the machine's two cores
    idle). Making the ids, the item and its pickle there cost ~5% of its CPU per request
    (bench/front_share.py, docs/telemetry.md); in the runners that work runs beside it, and
    with several runners on several cores.
    """

    enabled = True

    def __init__(self, settings: Settings, metrics, exporters, collector):
        self.settings = settings
        self.metrics = metrics
        self.exporters = exporters
        self.collector = collector
        self.dispatcher = None
        self.tracing = exporters is not None
        self.needs_url = exporters is not None  # request items carry the URL; metrics do not
        self.log_response = exporters is not None and exporters.appinsights and settings.app_insights_log_response
        self.model_data = exporters is not None and exporters.appinsights and settings.model_data_collection
        self.trace_key = new_trace_key()
        self.call_ids = CallTraceIds(self.trace_key)
        self.urls = RequestUrls()
        self.capture_trace = collector is not None and collector.mode == "appinsights"

    def runner_config(self) -> dict[str, Any]:
        return dict(self.exporters.runner_config(), trace_key=self.trace_key.hex(), log_response=self.log_response)

    # ---- Observer (dispatcher side)
    def runner_state(self, dispatcher) -> None:
        self.dispatcher = dispatcher
        if self.metrics is not None:
            self.metrics.dispatcher = dispatcher

    def runner_restarted(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.restarts += 1

    def scoring_timeout(self) -> None:
        if self.metrics is not None:
            self.metrics.timeouts += 1

    def runner_event(self, name: str, payload: Any) -> None:
        if self.exporters is not None:
            self.exporters.add(("ev", name, payload))

    # ---- Hooks (app side)
    def before_call(self, environ: dict, ctx: dict, started: float) -> str | None:
        if not self.tracing:
            return None
        ctx["started"] = started
        ctx["url"] = self.urls(environ)
        header = environ.get("HTTP_TRACEPARENT")
        if header is not None:
            ctx["traceparent"] = header
        return header

    def front_trace(self, answer) -> tuple | None:
        """The trace of a request the front reports itself: (trace id, server span id, client's
        parent span id or None, wall-clock ns when it asked for a runner or None)."""
        if answer is None:
            return None  # the exporter makes the ids
        ids = self.call_ids(answer.seq) if answer.seq else (new_trace_id(), new_span_id())
        called_ns = None
        if answer.queued_at:
            called_ns = time.time_ns() - int((time.perf_counter() - answer.queued_at) * 1e9)
        return request_trace(ids, answer.traceparent) + (called_ns,)

    def request_done(self, route: str, method: str, url: str | None, status: int, duration_ms: float,
                     request_id: str, client_request_id: str, response, answer) -> None:
        try:
            queue_ms = fn_ms = kind = None
            if answer is not None and answer.queue_ms > 0.0:  # 0.0: never reached a runner
                queue_ms, fn_ms, kind = answer.queue_ms, answer.fn_ms, answer.kind
            if self.metrics is not None:
                self.metrics.observe(route, status, duration_ms, queue_ms, fn_ms, kind)
            if self.exporters is not None:
                item = answer.item if answer is not None else None
                if item is not None:  # built by the runner (format in scorehost.telemetry_channel), which
                    # adds model data by the same rule (its config's "model_data" is self.model_data)
                    self.exporters.add(("p", item, self.model_data and status < 400))
                else:
                    self.exporters.add(self._request_item(route, method, url, status, duration_ms, request_id,
                                                          client_request_id, response, answer, queue_ms, fn_ms, kind))
            if self.collector is not None and answer is not None:
                trace = self.front_trace(answer) if self.capture_trace else None
                self.collector.request_done(route, status, duration_ms, request_id, client_request_id, trace, answer)
        except Exception:  # the answer is already sent: log it, keep serving
            log.exception("Cannot record request %s in telemetry", request_id)

    def _request_item(self, route, method, url, status, duration_ms, request_id, client_request_id, response, answer,
                      queue_ms, fn_ms, kind) -> tuple:
        """The request item of an answer that did not come from a runner's RESULT."""
        response_value = model_data = None
        if self.log_response and response is not None:
            response_value = _response_value(response)
        if self.model_data and queue_ms is not None and status < 400 and not answer.is_streamed:
            model_data = ((answer.request_body or b"").decode("utf-8", "replace"),
                          answer.body.decode("utf-8", "replace"))
        return ("req", time.time_ns(), duration_ms, self.front_trace(answer), status, request_id, client_request_id,
                route, method, url, response_value, queue_ms, fn_ms, kind, model_data)


def _response_value(response) -> str:
    """The response as App Insights' request item logs it (APP_INSIGHTS_LOG_RESPONSE_ENABLED)."""
    if response.is_streamed:
        return RESPONSE_STREAMED
    try:
        body = response.get_data()
    except AttributeError:
        return RESPONSE_NOT_TEXT
    return response_text(body)


def _missing_packages(ai, otlp) -> list[str]:
    """What the exporter process would fail to import (checked without importing it here)."""
    import importlib.util
    needed = ["opentelemetry.sdk"]
    if ai:
        needed.append("azure.monitor.opentelemetry.exporter")
    if otlp:
        needed.append("opentelemetry.exporter.otlp.proto.http")
    missing = []
    for name in needed:
        try:
            if importlib.util.find_spec(name) is None:
                missing.append(name)
        except (ImportError, ValueError):
            missing.append(name)
    return missing


def build_telemetry(settings: Settings) -> Telemetry:
    ai = appinsights_connection_string(settings)
    otlp = otlp_enabled(settings)
    dc = settings.data_collection
    metrics = exporters = collector = None
    if settings.metrics_enabled:
        from .telemetry_metrics import Metrics
        metrics = Metrics()
    if ai or otlp:
        missing = _missing_packages(ai, otlp)
        if missing:
            log.error("Telemetry exporters are not installed (no module %s): App Insights/OpenTelemetry export "
                      "is off. Install scorehost[telemetry].", ", ".join(missing))
        else:
            from .telemetry_channel import ExportChannel
            exporters = ExportChannel(settings, appinsights=ai, otlp=otlp, otlp_logs=otlp_logs_enabled(settings))
            exporters.start()
    if dc != "off":
        from .telemetry_collect import ServerCapture
        collector = ServerCapture(settings, exporters=exporters, metrics=metrics)
    if metrics is None and exporters is None and collector is None:
        return Telemetry()
    front = _FrontTelemetry(settings, metrics, exporters, collector)
    if metrics is not None and exporters is not None:
        metrics.exporters = exporters
    if metrics is not None and collector is not None:
        metrics.collector = collector
    return Telemetry(observer=front, hooks=front, metrics_source=metrics, exporters=exporters)
