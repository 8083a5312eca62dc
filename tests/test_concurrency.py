"""Several run() calls in flight at once: per-runner concurrency and several runners."""
import hashlib
from concurrent.futures import ThreadPoolExecutor

import pytest


@pytest.mark.parametrize("env", [{"SCOREHOST_RUNNER_CONCURRENCY": "8"}, {"WORKER_COUNT": "2"}],
                         ids=["threads", "runners"])
def test_concurrent_large_bodies_arrive_intact(serve, env):
    server = serve("body_length.py", env=env)
    bodies = [("x%d" % i) * (100_000 + i * 997) for i in range(32)]

    def post(body):
        return server.score(body.encode(), timeout=60)

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(post, bodies))
    for body, answer in zip(bodies, answers):
        assert answer.status == 200, answer.body[:300]
        assert answer.json() == {"length": len(body), "sha256": hashlib.sha256(body.encode()).hexdigest()}
    assert "ConcurrentObjectUseError" not in server.log()
    assert server.request("GET", "/health").json()["restarts"] == 0
