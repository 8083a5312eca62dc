"""Issue 3.1: scoring timeouts for any code — pure Python, C holding the GIL, sleep, blocking I/O.

The client gets azmlinfsrv's answer (500, {"message": "Scoring timeout after N ms"},
x-ms-run-function-failed: True) within timeout + 0.5 s; an interruptible runner comes back and
keeps its process; one that does not (C code holding the GIL) is killed after the grace period
and replaced, while the other runner keeps serving.
"""
from __future__ import annotations

import time

import pytest

from faultlib import body_json, runner_pids, wait_until

TIMEOUT_MS = 1000
GRACE_MS = 500
ENV = {"SCORING_TIMEOUT_MS": str(TIMEOUT_MS), "SCOREHOST_TIMEOUT_GRACE_MS": str(GRACE_MS)}


def assert_timeout_answer(resp) -> None:
    assert resp.status == 500, resp.body
    assert body_json(resp) == {"message": f"Scoring timeout after {TIMEOUT_MS} ms"}
    assert resp.header("x-ms-run-function-failed") == "True"
    # on time: the deadline plus 0.5 s (the bound)
    print(f"timeout answer after {resp.elapsed:.3f} s")
    assert resp.elapsed < TIMEOUT_MS / 1000 + 0.5, resp.elapsed


@pytest.mark.parametrize("script,body", [
    ("spin_forever.py", {"spin": True}),       # pure-Python loop: SIGALRM interrupts it
    ("sleep_long.py", {"sleep": 60}),           # time.sleep
    ("blocking_io.py", {"block": True}),       # a blocking read on a pipe
    ("swallow_exceptions.py", {"sleep": 60}),  # except Exception: must not swallow the timeout
])
def test_interruptible_overrun_times_out_and_runner_survives(serve, script, body):
    server = serve(script, "--worker_count", "1", env=ENV)
    pid = body_json(server.score({}))["pid"]
    resp = server.score(body)
    assert_timeout_answer(resp)
    # the runner was interrupted and came back: same process, serving again at once
    again = server.score({})
    assert again.status == 200, again.body
    assert body_json(again)["pid"] == pid
    assert again.elapsed < 2.0
    log = server.log()
    assert "Scoring timeout after 1000 ms: run() was interrupted" in log
    assert "killing and replacing it" not in log


def test_c_extension_holding_the_gil_is_killed_and_replaced(serve):
    server = serve("c_spin.py", "--worker_count", "2", env=ENV)
    before = set(runner_pids(server))
    assert len(before) == 2
    resp = server.score({"spin": True})
    assert_timeout_answer(resp)
    # the other runner keeps serving while the stuck one waits out its grace and is replaced
    ok = server.score({})
    assert ok.status == 200 and ok.elapsed < 1.0, (ok.status, ok.elapsed)
    assert wait_until(lambda: len(set(runner_pids(server)) - before) == 1
                      and server.request("GET", "/health").json()["status"] == "ready"
                      and all(r["state"] == "ready" for r in server.request("GET", "/health").json()["runners"]),
                      timeout=20), server.request("GET", "/health").json()
    after = set(runner_pids(server))
    assert len(after) == 2 and len(after & before) == 1
    log = server.log()
    assert f"did not come back from a timed-out run() within {GRACE_MS} ms; killing and replacing it" in log
    # both runners serve again (the replacement re-ran init())
    served = {body_json(r)["pid"] for r in (server.score({}) for _ in range(10)) if r.status == 200}
    assert served <= after and served


def test_timeout_with_a_single_runner_recovers(serve):
    """With one runner, a request arriving during the kill/respawn waits in the queue and is served."""
    server = serve("c_spin.py", "--worker_count", "1", env=ENV)
    assert_timeout_answer(server.score({"spin": True}))
    started = time.monotonic()
    resp = server.score({})  # queued until the replacement is ready (grace + restart)
    assert resp.status == 200, resp.body
    assert time.monotonic() - started < 15


def test_users_own_timeout_error_is_a_run_failure_not_a_scoring_timeout(serve):
    server = serve("user_timeout_error.py", env=ENV)
    resp = server.score({})
    assert resp.status == 500
    assert resp.header("x-ms-run-function-failed") == "True"
    message = body_json(resp)["message"]
    assert "Scoring timeout" not in message
    assert message == "An unexpected error occurred in scoring script. Check the logs for more info."
    assert resp.elapsed < TIMEOUT_MS / 1000  # answered at once, not at the deadline
    log = server.log()
    assert "TimeoutError: upstream feature store timed out" in log
    assert "Scoring timeout after" not in log


def test_thread_mode_pure_python_overrun_is_interrupted(serve):
    """SCOREHOST_RUNNER_CONCURRENCY > 1 runs calls in threads: the timeout is an asynchronous
    exception there, which interrupts Python code (the runner survives)."""
    server = serve("spin_forever.py", "--worker_count", "1",
                   env=dict(ENV, SCOREHOST_RUNNER_CONCURRENCY="2"))
    pid = body_json(server.score({}))["pid"]
    assert_timeout_answer(server.score({"spin": True}))
    again = server.score({})
    assert again.status == 200 and body_json(again)["pid"] == pid
    assert "killing and replacing it" not in server.log()


def test_thread_mode_blocking_call_falls_back_to_the_grace_kill(serve):
    """An asynchronous exception cannot interrupt a blocking call (time.sleep) in a thread; the
    front still answers on time and the grace kill replaces the runner (documented limitation)."""
    server = serve("sleep_long.py", "--worker_count", "1", env=dict(ENV, SCOREHOST_RUNNER_CONCURRENCY="2"))
    pid = body_json(server.score({}))["pid"]
    assert_timeout_answer(server.score({"sleep": 60}))
    assert wait_until(lambda: server.request("GET", "/health/ready").status == 200
                      and runner_pids(server) != [pid], timeout=15)
    again = server.score({})
    assert again.status == 200 and body_json(again)["pid"] != pid
    assert "killing and replacing it" in server.log()
