"""Prometheus metrics for ``GET /metrics`` (``prometheus_client``, a front-only registry).

The front is a single process and sees every request, so one private
:class:`~prometheus_client.CollectorRegistry` is exact and no multiprocess directory is
needed. Gauges (in-flight, queue depth, runner states) and the telemetry drop counters are
read from the dispatcher and the exporters at scrape time, so they cost nothing per request;
per request the front increments one counter and observes up to three histograms through
children cached by label values.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

_BUCKETS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, float("inf"))
_RUNNER_STATES = ("starting", "ready", "retiring", "dead")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.dispatcher = None
        self.exporters = None
        self.collector = None
        r = self.registry
        self.requests = Counter("scorehost_requests", "HTTP requests answered, by route and status code.",
                                ("route", "status"), registry=r)
        self.duration = Histogram("scorehost_request_duration_seconds",
                                  "Time from reading the request to the response, by route.", ("route",),
                                  buckets=_BUCKETS, registry=r)
        self.queue_wait = Histogram("scorehost_queue_wait_seconds",
                                    "Time /score requests waited for a free runner.", buckets=_BUCKETS, registry=r)
        self.run = Histogram("scorehost_run_duration_seconds", "Time run() took in the runner.",
                             buckets=_BUCKETS, registry=r)
        self.results = Counter("scorehost_run_results", "Outcomes of /score requests that reached a runner (ok, "
                               "user_error, bad_input, timeout, serialization_error, runner_died, error).", ("kind",), registry=r)
        self.restarts = Counter("scorehost_runner_restarts", "Runner processes replaced after they died or were "
                                "killed.", registry=r)
        self.timeouts = Counter("scorehost_scoring_timeouts", "Requests answered with a scoring timeout.",
                                registry=r)
        r.register(_StateCollector(self))
        self._requests: dict = {}
        self._durations: dict = {}
        self._results: dict = {}

    def observe(self, info: dict, answer) -> None:
        route = info["route"]
        key = (route, info["status"])
        child = self._requests.get(key)
        if child is None:
            child = self._requests[key] = self.requests.labels(route, str(info["status"]))
        child.inc()
        hist = self._durations.get(route)
        if hist is None:
            hist = self._durations[route] = self.duration.labels(route)
        hist.observe(info["duration_ms"] / 1000.0)
        if answer is not None and answer.queue_ms > 0.0:  # 0.0: never reached a runner
            self.queue_wait.observe(answer.queue_ms / 1000.0)
            fn_ms = answer.fn_ms
            if fn_ms is not None:
                self.run.observe(fn_ms / 1000.0)
            kind = answer.kind
            res = self._results.get(kind)
            if res is None:
                res = self._results[kind] = self.results.labels(kind)
            res.inc()

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _StateCollector:
    """Values read at scrape time: dispatcher state and telemetry counters."""

    def __init__(self, metrics: Metrics):
        self.m = metrics

    def collect(self):
        d = self.m.dispatcher
        inflight = GaugeMetricFamily("scorehost_requests_in_flight",
                                     "/score requests being run or waiting for a runner.")
        depth = GaugeMetricFamily("scorehost_queue_depth", "/score requests waiting for a free runner.")
        states = GaugeMetricFamily("scorehost_runners", "Runner processes by state.", labels=("state",))
        counts = dict.fromkeys(_RUNNER_STATES, 0)
        running = waiting = 0
        if d is not None:
            waiting = d.waiting
            for r in list(d.runners):
                counts[r.state] = counts.get(r.state, 0) + 1
                running += len(r.calls)
        inflight.add_metric([], running + waiting)
        depth.add_metric([], waiting)
        for state, n in counts.items():
            states.add_metric([state], n)
        yield inflight
        yield depth
        yield states
        dropped = CounterMetricFamily("scorehost_telemetry_dropped", "Telemetry items dropped (buffer full, "
                                      "or export failed), by destination and signal.",
                                      labels=("exporter", "signal"))
        exported = CounterMetricFamily("scorehost_telemetry_exported", "Telemetry items handed to an exporter "
                                       "successfully, by destination and signal.", labels=("exporter", "signal"))
        if self.m.exporters is not None:
            for (dest, signal), (n_exported, n_dropped) in self.m.exporters.counts().items():
                dropped.add_metric([dest, signal], n_dropped)
                exported.add_metric([dest, signal], n_exported)
        yield dropped
        yield exported
        if self.m.collector is not None:
            c = self.m.collector
            dc = CounterMetricFamily("scorehost_data_collection_records", "Server-side data collection: "
                                     "records written, skipped by sampling, dropped at the size cap.",
                                     labels=("outcome",))
            for outcome, n in c.counts().items():
                dc.add_metric([outcome], n)
            yield dc
