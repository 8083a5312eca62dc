"""One App Insights request item per /score request, whoever answers it, in its request's operation.

The runner that answers a request builds its item (it rides in the RESULT); the front builds it
when it answers itself: a scoring timeout, a runner that died, no runner free. Both derive the
same trace ids for a call, so print() traces of a timed-out or killed run() share the operation
id of the request's item, and a late RESULT after a timeout adds no second item. Real server,
real exporter process, a loopback ingestion endpoint.
"""
from __future__ import annotations

import threading
import time
import uuid

from .receivers import AppInsightsReceiver

FAST = {"SCOREHOST_TELEMETRY_EXPORT_INTERVAL_MS": "200"}


def _props(envelope) -> dict:
    return envelope["data"]["baseData"].get("properties", {})


def _items_of(items, request_id: str, base_type: str) -> list:
    return [e for e in AppInsightsReceiver.of_type(items, base_type) if _props(e).get("Request Id") == request_id]


def _seconds(duration: str) -> float:
    """App Insights' ``d.hh:mm:ss.fff`` as seconds."""
    days, _, clock = duration.partition(".")
    h, m, s = clock.split(":")
    return int(days) * 86400 + int(h) * 3600 + int(m) * 60 + float(s)


def _in_background(server, body, headers):
    result = {}
    thread = threading.Thread(target=lambda: result.update(r=server.score(body, headers=headers, timeout=60)))
    thread.start()
    return thread, result


def test_one_item_per_request_when_the_front_answers(serve, appinsights):
    server = serve("telemetry_score.py", env={"APPLICATIONINSIGHTS_CONNECTION_STRING": appinsights.connection_string(),
                                              "SCORING_TIMEOUT_MS": "1500", "SCOREHOST_MAX_QUEUE_WAIT_MS": "300",
                                              **FAST})
    ids = {name: f"{name}-{uuid.uuid4()}" for name in ("ok", "timeout", "died", "busy", "refused")}

    assert server.score({"print": "p-ok"}, headers={"x-request-id": ids["ok"]}).status == 200
    timed_out = server.score({"print": "p-timeout", "sleep": 5}, headers={"x-request-id": ids["timeout"]})
    assert timed_out.status == 500 and "timeout" in timed_out.json()["message"].lower()
    died = server.score({"print": "p-died", "crash": True}, headers={"x-request-id": ids["died"]})
    assert died.status == 500 and "runner process" in died.json()["message"]
    server.wait_ready(60)  # the replacement runner
    thread, busy = _in_background(server, {"sleep": 1.2}, {"x-request-id": ids["busy"]})
    deadline = time.monotonic() + 10
    while server.request("GET", "/health").json()["runners"][0]["inflight"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    refused = server.score({"a": 1}, headers={"x-request-id": ids["refused"]})
    assert refused.status == 503
    thread.join(30)
    assert busy["r"].status == 200

    statuses = {"ok": "200", "timeout": "500", "died": "500", "busy": "200", "refused": "503"}
    items = appinsights.wait_for(lambda it: all(_items_of(it, rid, "RequestData") for rid in ids.values())
                                 and all(_items_of(it, ids[n], "MessageData") for n in ("ok", "timeout", "died")))
    time.sleep(1.0)  # five export intervals: a late RESULT's item (the timed-out call) would be here by now
    items = appinsights.wait_for(lambda it: True, timeout=0)
    for name, rid in ids.items():
        requests = _items_of(items, rid, "RequestData")
        assert len(requests) == 1, (name, requests)
        assert requests[0]["data"]["baseData"]["responseCode"] == statuses[name], name
    for name in ("ok", "timeout", "died"):  # print() in run() is in its request's operation
        (request,) = _items_of(items, ids[name], "RequestData")
        (trace,) = _items_of(items, ids[name], "MessageData")
        assert trace["data"]["baseData"]["message"] == f"printed p-{name}"
        assert trace["tags"]["ai.operation.id"] == request["tags"]["ai.operation.id"], name
    operations = {_items_of(items, rid, "RequestData")[0]["tags"]["ai.operation.id"] for rid in ids.values()}
    assert len(operations) == len(ids)


def test_item_has_the_client_trace_and_the_queue_wait(serve, appinsights):
    """An undecorated run() gets no headers, yet its request item is in the client's trace; a
    request that waited for the runner has that wait in its queue time and its duration."""
    server = serve("telemetry_score.py", env={"APPLICATIONINSIGHTS_CONNECTION_STRING": appinsights.connection_string(),
                                              **FAST})
    first, second = f"first-{uuid.uuid4()}", f"second-{uuid.uuid4()}"
    trace_id, parent = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    thread, _ = _in_background(server, {"sleep": 1.0}, {"x-request-id": first})
    deadline = time.monotonic() + 10
    while server.request("GET", "/health").json()["runners"][0]["inflight"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    waited = server.score({"a": 2}, headers={"x-request-id": second, "traceparent": f"00-{trace_id}-{parent}-01"})
    assert waited.status == 200
    thread.join(30)

    items = appinsights.wait_for(lambda it: all(_items_of(it, rid, "RequestData") for rid in (first, second)))
    (item,) = _items_of(items, second, "RequestData")
    assert item["tags"]["ai.operation.id"] == trace_id
    assert item["tags"]["ai.operation.parentId"] == parent
    props = _props(item)
    queue_ms, run_ms = float(props["scorehost.queue_ms"]), float(props["scorehost.run_ms"])
    assert queue_ms > 300  # it waited for the sleeping call (sent first, asleep for 1 s)
    duration_ms = _seconds(item["data"]["baseData"]["duration"]) * 1000
    assert duration_ms + 1 >= queue_ms + run_ms  # (the envelope rounds to whole ms)
    assert duration_ms <= waited.elapsed * 1000 + 1
    (other,) = _items_of(items, first, "RequestData")
    assert other["tags"]["ai.operation.id"] != trace_id and "ai.operation.parentId" not in other["tags"]


def test_items_of_concurrent_calls_stay_apart(serve, appinsights):
    """Two runners of four threads each: every request gets its own operation, and each print()
    is in its own request's operation (the call context is per thread)."""
    server = serve("telemetry_score.py", env={"APPLICATIONINSIGHTS_CONNECTION_STRING": appinsights.connection_string(),
                                              "WORKER_COUNT": "2", "SCOREHOST_RUNNER_CONCURRENCY": "4", **FAST})
    n = 24
    threads = [_in_background(server, {"print": f"c{i}", "sleep": 0.2}, {"x-request-id": f"conc-{i}"})
               for i in range(n)]
    for thread, result in threads:
        thread.join(30)
        assert result["r"].status == 200
    ids = [f"conc-{i}" for i in range(n)]
    items = appinsights.wait_for(lambda it: all(_items_of(it, rid, "RequestData") and _items_of(it, rid, "MessageData")
                                                for rid in ids))
    operations = set()
    for i, rid in enumerate(ids):
        (request,) = _items_of(items, rid, "RequestData")
        (trace,) = _items_of(items, rid, "MessageData")
        assert trace["data"]["baseData"]["message"] == f"printed c{i}"
        assert trace["tags"]["ai.operation.id"] == request["tags"]["ai.operation.id"]
        operations.add(request["tags"]["ai.operation.id"])
    assert len(operations) == n
