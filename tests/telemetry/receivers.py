"""Real receivers on 127.0.0.1 standing in for the App Insights ingestion endpoint and an
OTLP/HTTP collector. They record what they get; nothing is mocked on the sender's side."""
from __future__ import annotations

import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Receiver:
    def __init__(self):
        self.items: list = []
        self.count = 0  # envelopes / records received, also when the receiver does not keep them
        self.posts = 0
        self.delay_s = 0.0  # answer each POST this much later (an endpoint far away)
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # the answer's body is not held back 40 ms (delayed ACK)
            protocol_version = "HTTP/1.1"   # keep-alive, as the real ingestion endpoint does

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length)
                if self.headers.get("Content-Encoding") == "gzip":
                    data = gzip.decompress(data)
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                status, body, ctype = receiver.handle(self.path, data)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, predicate, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                items = list(self.items)
            if predicate(items):
                return items
            time.sleep(0.1)
        with self.lock:
            return list(self.items)


class AppInsightsReceiver(_Receiver):
    """Accepts Breeze ``POST /v2.1/track`` (a JSON array, or newline-delimited JSON).
    ``keep=False`` only counts the envelopes (for benchmarks: no parsing, no growing list)."""

    def __init__(self, keep: bool = True):
        self.batches: list[list] = []  # the envelopes of each POST, in arrival order
        self.keep = keep
        super().__init__()

    def connection_string(self) -> str:
        return (f"InstrumentationKey=00000000-0000-0000-0000-000000000000;"
                f"IngestionEndpoint=http://127.0.0.1:{self.port}/")

    def handle(self, path, data):
        if not self.keep:
            n = data.count(b'"iKey":')  # one per envelope
            with self.lock:
                self.posts += 1
                self.count += n
            return self._accepted(n)
        text = data.decode("utf-8")
        try:
            envelopes = json.loads(text)
            if isinstance(envelopes, dict):
                envelopes = [envelopes]
        except ValueError:
            envelopes = [json.loads(line) for line in text.splitlines() if line.strip()]
        with self.lock:
            self.posts += 1
            self.count += len(envelopes)
            self.items.extend(envelopes)
            self.batches.append(envelopes)
        return self._accepted(len(envelopes))

    @staticmethod
    def _accepted(n: int):
        """Breeze's answer when all ``n`` envelopes of a POST were accepted."""
        return 200, json.dumps({"itemsReceived": n, "itemsAccepted": n, "errors": []}).encode(), "application/json"

    @staticmethod
    def of_type(items, base_type):
        return [e for e in items if e.get("data", {}).get("baseType") == base_type]


class OTLPReceiver(_Receiver):
    """Accepts OTLP/HTTP protobuf ``POST /v1/traces`` (decoded spans, as dicts, go to ``items``)
    and ``POST /v1/logs`` (decoded log records go to ``logs``)."""

    def __init__(self):
        super().__init__()
        self.logs: list = []

    def wait_for_logs(self, predicate, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                logs = list(self.logs)
            if predicate(logs) or time.monotonic() >= deadline:
                return logs
            time.sleep(0.1)

    def handle(self, path, data):
        from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs_pb
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb
        if path.rstrip("/").endswith("/v1/logs"):
            req, reply, target = logs_pb.ExportLogsServiceRequest(), logs_pb.ExportLogsServiceResponse(), self.logs
            req.ParseFromString(data)
            decoded = [(rl.resource, sl.scope, _log(r)) for rl in req.resource_logs for sl in rl.scope_logs
                       for r in sl.log_records]
        else:
            req, reply, target = trace_pb.ExportTraceServiceRequest(), trace_pb.ExportTraceServiceResponse(), self.items
            req.ParseFromString(data)
            decoded = [(rs.resource, ss.scope, _span(s)) for rs in req.resource_spans for ss in rs.scope_spans
                       for s in ss.spans]
        records = []
        for resource, scope, record in decoded:
            record["resource"] = {a.key: _value(a.value) for a in resource.attributes}
            record["scope"] = scope.name
            records.append(record)
        with self.lock:
            self.posts += 1
            self.count += len(records)
            target.extend(records)
        return 200, reply.SerializeToString(), "application/x-protobuf"


def _span(s) -> dict:
    return {"name": s.name, "trace_id": s.trace_id.hex(), "span_id": s.span_id.hex(),
            "parent_id": s.parent_span_id.hex(), "kind": s.kind, "start": s.start_time_unix_nano,
            "end": s.end_time_unix_nano, "attributes": {a.key: _value(a.value) for a in s.attributes},
            "events": [e.name for e in s.events], "status": s.status.code}


def _log(r) -> dict:
    return {"body": _value(r.body), "severity": r.severity_text, "trace_id": r.trace_id.hex(),
            "span_id": r.span_id.hex(), "attributes": {a.key: _value(a.value) for a in r.attributes}}


def _value(v):
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None
