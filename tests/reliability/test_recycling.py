"""Issue 3.9: SCOREHOST_MAX_REQUESTS_PER_RUNNER replaces runners without dropping a request."""
from __future__ import annotations

from faultlib import body_json, parallel


def test_recycling_drops_no_request(serve):
    server = serve("sleep_long.py", "--worker_count", "1", env={"SCOREHOST_MAX_REQUESTS_PER_RUNNER": "5"})
    results = parallel(lambda i: server.score({"sleep": 0.05}, timeout=30), list(range(40)), workers=4)
    bad = [r if isinstance(r, Exception) else (r.status, r.body) for r in results
           if isinstance(r, Exception) or r.status != 200]
    assert not bad, bad
    pids = {body_json(r)["pid"] for r in results}
    assert len(pids) >= 4, pids  # 40 requests, 5 per runner: several generations served
    log = server.log()
    assert "(SCOREHOST_MAX_REQUESTS_PER_RUNNER); replacing it" in log
    assert "retired after" in log
    assert "failing the" not in log  # no request was lost to a retiring runner


def test_recycling_bounds_a_leaking_script(serve):
    """A run() leaking 8 MiB per call: recycling every 4 requests keeps each runner's RSS bounded."""
    from faultlib import rss_kb, runner_pids

    server = serve("leak_memory.py", "--worker_count", "1", env={"SCOREHOST_MAX_REQUESTS_PER_RUNNER": "4"})
    base = rss_kb(runner_pids(server)[0])
    peaks, pids = [], set()
    for _ in range(16):
        resp = server.score({"mb": 8}, timeout=30)
        assert resp.status == 200, resp.body
        body = body_json(resp)
        pids.add(body["pid"])
        assert body["leaked_mb"] <= 4 * 8
        try:
            peaks.append(rss_kb(body["pid"]))
        except (OSError, AssertionError):  # already retired
            pass
    print(f"runner RSS: base {base // 1024} MiB, peak {max(peaks) // 1024} MiB over {len(pids)} runners")
    assert len(pids) == 4
    assert max(peaks) - base < 4 * 8 * 1024 + 16 * 1024  # 4 leaks at most, plus slack
