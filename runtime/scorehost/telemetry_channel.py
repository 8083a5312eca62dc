"""The front's side of the telemetry exporter process (App Insights and OTLP export).

Imported only when App Insights or OTLP is on; standard library and gevent only (the front
never imports opentelemetry or azure).

Why a separate process: the Azure Monitor exporter turns each item into its generated model
types before sending it (~0.7 ms of CPU per item, measured), and under gevent the exporter's
"background thread" is a greenlet on the front's only OS thread, so that CPU was taken from
serving requests (App Insights on: 2.6x the front's CPU per request, 0.4-0.6x the req/s).
Now the request path only appends one compact tuple of plain values to a bounded deque
(:meth:`ExportChannel.add`); a greenlet ships what is buffered to the exporter process every
tick, one frame (``scorehost.protocol`` framing) per batch, over a socketpair. The exporter
process (:mod:`scorehost.telemetry_exporter`, a fresh interpreter started with subprocess like
the runners) owns the OpenTelemetry SDK objects and the exporters, and runs at the lowest CPU
priority (``SCHED_IDLE``, or nice ``EXPORTER_NICENESS`` where the OS lacks it): under
saturation the front and the runners keep the CPU and the exporter falls behind, and then
items are dropped and counted rather than queued without bound or slowing requests down.

Where items are dropped, and counted (``scorehost_telemetry_dropped_total``, per
``(exporter, signal)``; :func:`routes` tells which destinations an item would have reached, so
the front and the exporter count the same way):

* in the front: the buffer holds ``SCOREHOST_TELEMETRY_MAX_QUEUE`` items; a batch the channel
  would not take at once (the socket would block: the exporter is not reading fast enough);
  items added after the front gave up on the exporter process (while it restarts, items wait
  in the buffer);
* in the exporter process: its per-destination buffers are full, or an export failed after the
  exporter's own retries. The exporter reports its cumulative counts every
  ``STATS_INTERVAL_S`` and at exit;
* when the exporter process dies, whatever the front shipped to it and it had not reported as
  exported or dropped is counted as dropped.

So for each destination: items shipped = exported + dropped + (in flight in a live exporter).

The exporter process must never take the server down: if it dies the front logs it, counts, and
starts a new one after ``RESTART_DELAY_S``, at most ``MAX_RESTARTS`` times; after that export is
off (logged once) and every item is dropped and counted. At shutdown the front ships what is
buffered, closes its end of the channel and waits for the exporter to flush (it gives itself
``FLUSH_S``) and exit.
"""
from __future__ import annotations

import collections
import logging
import os
import socket
import subprocess
import sys
import time

import gevent
import gevent.event

from . import protocol

log = logging.getLogger("scorehost.telemetry")

EXPORTER_NICENESS = 19  # where SCHED_IDLE is not available (telemetry_exporter.lower_priority)
MAX_RESTARTS = 3
RESTART_DELAY_S = 1.0
STATS_INTERVAL_S = 0.5
FLUSH_S = 10.0
TICK_S = 0.05
FRAME_ITEMS = 256
CONFIG_ERROR = 4  # scorehost.telemetry_exporter.CONFIG_ERROR (not imported: it is the child's module)
_EXPORTER_CMD = "import sys; from scorehost.telemetry_exporter import main; sys.exit(main())"

AI_SPANS = ("appinsights", "spans")
AI_LOGS = ("appinsights", "logs")
OTLP_SPANS = ("otlp", "spans")
OTLP_LOGS = ("otlp", "logs")


# ------------------------------------------------------------------ items (plain tuples)
#
# ("req", end_ns, duration_ms, trace, status, request_id, client_request_id, route, method, url,
#         response_value, queue_ms, fn_ms, result_kind, model_data)
#     one /score or /swagger.json request. trace: (trace_id, span_id, client parent span id or
#     None, call start ns or None) or None; response_value: str or None; queue_ms: None when the
#     request never reached a runner; model_data: (input, prediction) str pair or None.
# ("p", pickled, has_model_data)
#     a "req" item a runner built and pickled (telemetry_runner.RunnerTelemetry.request_item),
#     shipped as the bytes it came in; it has queue_ms and a call start, and model_data when
#     has_model_data.
# ("ev", name, payload)
#     a runner EVENT (span, log, exception, model_data), payload as the runner sent it.
# ("md", request_id, client_request_id, input, prediction, trace, attributes)
#     a model data record from server-side capture (SCOREHOST_DATA_COLLECTION=appinsights).

REQ_TRACE, REQ_QUEUE_MS, REQ_MODEL_DATA = 3, 11, 14


def routes(item: tuple, appinsights: bool, otlp: bool, otlp_logs: bool = False) -> list[tuple[str, str]]:
    """The (exporter, signal) buffers an item feeds, once per exported item it becomes."""
    kind = item[0]
    out: list[tuple[str, str]] = []
    if kind == "p":
        if appinsights:
            out.append(AI_SPANS)
            if item[2]:
                out.append(AI_LOGS)
        if otlp:
            out += (OTLP_SPANS, OTLP_SPANS)  # the request span and its "queue" child
    elif kind == "req":
        if appinsights:
            out.append(AI_SPANS)
            if item[REQ_MODEL_DATA] is not None:
                out.append(AI_LOGS)
        if otlp:
            out.append(OTLP_SPANS)
            trace = item[REQ_TRACE]
            if item[REQ_QUEUE_MS] is not None and trace is not None and trace[3]:
                out.append(OTLP_SPANS)  # the "queue" child span
    elif kind == "ev":
        name, payload = item[1], item[2]
        if name == "span":
            if otlp:
                out.append(OTLP_SPANS)
            if appinsights and not payload.get("internal"):
                out.append(AI_SPANS)
        elif name in ("log", "exception", "model_data") and appinsights:
            out.append(AI_LOGS)
        if name in ("log", "exception") and otlp_logs:
            out.append(OTLP_LOGS)
    elif kind == "md" and appinsights:
        out.append(AI_LOGS)
    return out


def _count(counter: dict, items, signals: tuple[bool, bool, bool]) -> None:
    for item in items:
        for key in routes(item, *signals):
            counter[key] = counter.get(key, 0) + 1


class ExportChannel:
    """Bounded buffer in the front, shipped to the exporter process by a greenlet."""

    def __init__(self, settings, *, appinsights: str | None, otlp: bool, otlp_logs: bool = False):
        self.settings = settings
        self.appinsights = bool(appinsights)
        self.otlp = bool(otlp)
        self.otlp_logs = self.otlp and otlp_logs
        self.signals = (self.appinsights, self.otlp, self.otlp_logs)
        self._connection_string = appinsights
        self.max_queue = settings.telemetry_max_queue
        self.buffer: collections.deque = collections.deque()
        self.keys = (([AI_SPANS, AI_LOGS] if appinsights else []) + ([OTLP_SPANS] if otlp else [])
                     + ([OTLP_LOGS] if self.otlp_logs else []))
        self.front_dropped: dict = {}      # dropped in the front (buffer full, channel full, no exporter)
        self.base_exported: dict = {}      # totals of exporter processes that are gone
        self.base_dropped: dict = {}
        self.live_stats: dict = {}         # (exported, dropped) last reported by the live exporter
        self.shipped: dict = {}            # items shipped to the live exporter, per key
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self._pending = b""                # the unsent tail of a partly sent frame
        self.restarts = 0
        self.given_up = False
        self.closing = False
        self.connected = False             # a live exporter process is attached
        self._generation = 0
        self._shipper = None
        self._exited = None

    # ------------------------------------------------------------------ request path
    def add(self, item: tuple) -> None:
        """Append one item; never blocks. Full buffer or no exporter: the item is dropped and counted."""
        if len(self.buffer) >= self.max_queue or self.given_up or self.closing:
            _count(self.front_dropped, (item,), self.signals)
            return
        self.buffer.append(item)

    # ------------------------------------------------------------------ metrics
    def counts(self) -> dict:
        """{(exporter, signal): (exported, dropped)}, cumulative over exporter processes."""
        out = {}
        for key in self.keys:
            live_exported, live_dropped = self.live_stats.get(key, (0, 0))
            exported = self.base_exported.get(key, 0) + live_exported
            dropped = self.front_dropped.get(key, 0) + self.base_dropped.get(key, 0) + live_dropped
            out[key] = (exported, dropped)
        return out

    def runner_config(self) -> dict:
        """What runners produce. scorehost's own run/serialize spans only go to OTLP; App Insights
        gets the request item (with scorehost.run_ms) and the spans user code makes, parented on
        the request; print()/logging records and exceptions go to App Insights (traces and
        exceptions) and to OTLP logs."""
        return {"traces": True, "internal_spans": self.otlp, "logs": self.appinsights or self.otlp_logs,
                "model_data": self.appinsights and bool(self.settings.model_data_collection)}

    # ------------------------------------------------------------------ exporter process
    def start(self) -> None:
        """Start the shipping greenlet, which starts the exporter process (once the hub runs)."""
        if self._shipper is None:
            self._shipper = gevent.spawn(self._ship_loop)

    def _spawn(self) -> bool:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.proc = subprocess.Popen([sys.executable, "-c", _EXPORTER_CMD, str(child.fileno())],
                                         pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL, close_fds=True)
        except OSError as exc:
            log.error("Cannot start the telemetry exporter process: %s", exc)
            parent.close()
            return False
        finally:
            child.close()
        self._generation += 1
        reader = parent.dup()  # the reader greenlet waits on this one; the shipper never waits
        parent.settimeout(0.0)
        self.sock = parent
        self.shipped = {}
        self.live_stats = {}
        self._pending = b""
        config = {"settings": self.settings, "appinsights": self._connection_string, "otlp": self.otlp,
                  "otlp_logs": self.otlp_logs,
                  "front_pid": os.getpid(),
                  "niceness": EXPORTER_NICENESS, "stats_interval_s": STATS_INTERVAL_S, "flush_s": FLUSH_S}
        try:
            protocol.send(parent, ("config", config))  # small: fits the socket buffer
        except OSError as exc:  # the reader sees the process go
            log.error("Cannot configure the telemetry exporter process: %s", exc)
        self.connected = True
        self._exited = gevent.event.Event()
        gevent.spawn(self._read_loop, reader, self.proc, self._generation)
        log.info("Started the telemetry exporter process (pid %d)", self.proc.pid)
        return True

    def _read_loop(self, sock: socket.socket, proc: subprocess.Popen, generation: int) -> None:
        reader = protocol.FrameReader(sock)
        try:
            while True:
                message = reader.read()
                if message[0] == "stats" and generation == self._generation:
                    self.live_stats = message[1]
        except (protocol.ChannelClosed, OSError, EOFError, ValueError):
            pass
        sock.close()
        try:
            code = proc.wait(timeout=FLUSH_S + 5)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        self._on_exit(code, generation)

    def _on_exit(self, code: int, generation: int) -> None:
        if generation != self._generation:
            return
        self.connected = False
        # everything the front shipped that the exporter did not report is lost
        lost = 0
        for key in set(self.shipped) | set(self.live_stats):
            exported, dropped = self.live_stats.get(key, (0, 0))
            unaccounted = max(0, self.shipped.get(key, 0) - exported - dropped)
            lost += unaccounted
            self.base_exported[key] = self.base_exported.get(key, 0) + exported
            self.base_dropped[key] = self.base_dropped.get(key, 0) + dropped + unaccounted
        self.live_stats = {}
        self.shipped = {}
        try:
            self.sock.close()
        except OSError:
            pass
        if self._exited is not None:
            self._exited.set()
        if self.closing:
            return
        if code == CONFIG_ERROR:  # the exporter logged why (e.g. a malformed connection string)
            self.given_up = True
            _count(self.front_dropped, self.buffer, self.signals)
            self.buffer.clear()
            return
        if self.restarts >= MAX_RESTARTS:
            self.given_up = True
            dropped = len(self.buffer)
            _count(self.front_dropped, self.buffer, self.signals)
            self.buffer.clear()
            log.error("The telemetry exporter process exited (%s) %d times; App Insights/OpenTelemetry export is "
                      "off until the server restarts (%d items dropped, and every further item is dropped and "
                      "counted in scorehost_telemetry_dropped_total)", _describe(code), self.restarts + 1,
                      lost + dropped)
            return
        self.restarts += 1
        log.warning("The telemetry exporter process exited (%s); %d items it had not exported are dropped "
                    "(counted in scorehost_telemetry_dropped_total); restarting it in %.0f s (restart %d of %d)",
                    _describe(code), lost, RESTART_DELAY_S, self.restarts, MAX_RESTARTS)

    # ------------------------------------------------------------------ shipping
    def _ship_loop(self) -> None:
        if not self._spawn():
            self.given_up = True
            _count(self.front_dropped, self.buffer, self.signals)
            self.buffer.clear()
            return
        while not self.closing:
            gevent.sleep(TICK_S)
            if self.closing:
                break
            if not self.connected:
                if self.given_up:
                    return
                if self._exited is not None and self._exited.is_set():
                    gevent.sleep(RESTART_DELAY_S)
                    if self.closing or self.given_up:
                        break
                    if not self._spawn():
                        self.given_up = True
                continue
            try:
                self.ship()
            except Exception:  # noqa: BLE001 -- the shipper must survive anything
                log.debug("telemetry: shipping failed", exc_info=True)

    def _send_nowait(self, data) -> int:
        try:
            return self.sock.send(data)  # timeout 0: raises instead of waiting
        except (BlockingIOError, InterruptedError):
            return 0

    def ship(self) -> None:
        """Send what is buffered, one frame per FRAME_ITEMS items, without ever waiting."""
        buf = self.buffer
        if self._pending:
            try:
                sent = self._send_nowait(self._pending)
            except OSError:
                return  # the reader sees the exporter go
            self._pending = self._pending[sent:]
            if self._pending:
                # the exporter is not keeping up: what is buffered now is dropped, not queued
                _count(self.front_dropped, buf, self.signals)
                buf.clear()
                return
        while buf:
            n = min(len(buf), FRAME_ITEMS)
            batch = [buf.popleft() for _ in range(n)]
            data = protocol.encode(("items", batch))
            try:
                sent = self._send_nowait(data)
            except OSError:
                _count(self.front_dropped, batch, self.signals)
                return
            if sent == 0:
                _count(self.front_dropped, batch, self.signals)
                continue
            _count(self.shipped, batch, self.signals)
            if sent < len(data):
                self._pending = memoryview(data)[sent:].tobytes()
                _count(self.front_dropped, buf, self.signals)
                buf.clear()
                return

    # ------------------------------------------------------------------ shutdown
    def flush(self, timeout_s: float = 5.0) -> None:
        """Hand what is buffered to the exporter process (waiting at most ``timeout_s``)."""
        if not self.connected:
            return
        deadline = time.monotonic() + timeout_s
        try:
            self.sock.settimeout(timeout_s)
            with gevent.Timeout(timeout_s, False):
                if self._pending:
                    self.sock.sendall(self._pending)
                    self._pending = b""
                while self.buffer and time.monotonic() < deadline:
                    n = min(len(self.buffer), FRAME_ITEMS)
                    batch = [self.buffer.popleft() for _ in range(n)]
                    _count(self.shipped, batch, self.signals)
                    protocol.send(self.sock, ("items", batch))
            self.sock.settimeout(0.0)
        except OSError:
            pass

    def shutdown(self, timeout_s: float = FLUSH_S) -> None:
        """Ship what is buffered, close the channel, let the exporter flush and exit."""
        if self.closing:
            return
        started = time.monotonic()
        self.flush(min(2.0, timeout_s))
        self.closing = True
        _count(self.front_dropped, self.buffer, self.signals)
        self.buffer.clear()
        if self._shipper is not None:
            self._shipper.kill(block=False)
        if not self.connected or self.proc is None:
            return
        try:
            self.sock.shutdown(socket.SHUT_WR)  # EOF: the exporter flushes, reports, exits
        except OSError:
            pass
        remaining = max(1.0, timeout_s - (time.monotonic() - started)) + 1.0
        if self._exited is not None and not self._exited.wait(remaining):
            log.warning("The telemetry exporter process did not finish flushing in time; stopping it")
            try:
                self.proc.kill()
            except OSError:
                pass
            self._exited.wait(2.0)


def _describe(code) -> str:
    if code is None:
        return "still running"
    if code < 0:
        return f"killed by signal {-code}"
    return f"exit code {code}"

