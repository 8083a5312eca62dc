"""Several run() calls in flight at once: per-runner concurrency and several runners."""
import hashlib
import time
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


def test_waiting_requests_are_served_first_come_first_served(serve, tmp_path):
    """One runner, one slot: requests queued behind a busy runner get it in arrival order."""
    order_file = tmp_path / "order.txt"
    server = serve("record_order.py", env={"ORDER_FILE": str(order_file)})

    def waiting() -> int:
        return server.request("GET", "/health").json()["queue"]["waiting"]

    def wait_for(predicate, what: str) -> None:
        for _ in range(400):  # at most 20 s
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        first = pool.submit(server.score, {"tag": 0, "sleep": 2.0})
        wait_for(lambda: server.request("GET", "/health").json()["runners"][0]["inflight"] == 1, "run() to start")
        queued = []
        for tag in range(1, 7):  # each joins the queue only after the one before it
            queued.append(pool.submit(server.score, {"tag": tag, "sleep": 0.01}))
            wait_for(lambda: waiting() == tag, f"request {tag} to queue")
        answers = [first.result(timeout=60)] + [f.result(timeout=60) for f in queued]
    assert [a.json()["tag"] for a in answers] == list(range(7))
    assert order_file.read_text().split() == [str(i) for i in range(7)]
