"""Issue 3.5: backpressure. A bounded queue (SCOREHOST_MAX_QUEUE) and a bounded wait
(SCOREHOST_MAX_QUEUE_WAIT_MS): beyond them, 503 with Retry-After at once."""
from __future__ import annotations

import threading

from faultlib import body_json, wait_until


def _fill(server, n, seconds):
    results = []
    threads = [threading.Thread(target=lambda: results.append(server.score({"sleep": seconds}, timeout=30)))
               for _ in range(n)]
    for t in threads:
        t.start()
    return threads, results


def test_full_queue_answers_503_with_retry_after_at_once(serve):
    server = serve("sleep_long.py", "--worker_count", "1", env={"SCOREHOST_MAX_QUEUE": "2"})
    threads, results = _fill(server, 3, 1.5)  # 1 running + 2 waiting = full
    assert wait_until(lambda: server.request("GET", "/health").json()["queue"]["waiting"] == 2, timeout=5)
    times = []
    for _ in range(5):
        resp = server.score({"sleep": 0})
        assert resp.status == 503
        assert resp.header("retry-after") == "1"
        assert "SCOREHOST_MAX_QUEUE=2" in body_json(resp)["message"]
        assert resp.header("x-ms-run-function-failed") == "False"
        times.append(resp.elapsed)
    print("503 (queue full) in ms:", [round(t * 1000, 1) for t in times])
    assert sum(t < 0.050 for t in times) >= 4, times  # within 50 ms (one noisy outlier allowed)
    for t in threads:
        t.join(timeout=30)
    assert [r.status for r in results] == [200] * 3  # the admitted requests were all served
    assert server.request("GET", "/health/ready").status == 200  # busy is not unready


def test_queue_wait_deadline(serve):
    server = serve("sleep_long.py", "--worker_count", "1", env={"SCOREHOST_MAX_QUEUE_WAIT_MS": "500"})
    threads, results = _fill(server, 1, 3.0)
    assert wait_until(lambda: server.request("GET", "/health").json()["runners"][0]["inflight"] == 1, timeout=5)
    resp = server.score({"sleep": 0})
    assert resp.status == 503
    assert resp.header("retry-after") == "1"
    assert "SCOREHOST_MAX_QUEUE_WAIT_MS" in body_json(resp)["message"]
    assert 0.4 < resp.elapsed < 1.5, resp.elapsed
    for t in threads:
        t.join(timeout=30)
    assert results[0].status == 200


def test_no_queue_at_all(serve):
    server = serve("sleep_long.py", "--worker_count", "1", env={"SCOREHOST_MAX_QUEUE": "0"})
    threads, results = _fill(server, 1, 2.0)
    assert wait_until(lambda: server.request("GET", "/health").json()["runners"][0]["inflight"] == 1, timeout=5)
    resp = server.score({"sleep": 0})
    assert resp.status == 503 and resp.header("retry-after")
    for t in threads:
        t.join(timeout=30)
    assert results[0].status == 200
    assert server.score({"sleep": 0}).status == 200  # free again
