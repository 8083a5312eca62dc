"""Issue 3.7 and 3.8: no exception text or traceback in any response body (logs only, under the
same request id; --debug opts in), and the optional API key."""
from __future__ import annotations


from faultlib import assert_no_leak, body_json

SECRET = "hunter2-SECRET"
GENERIC = "An unexpected error occurred in scoring script. Check the logs for more info."


def test_exception_text_stays_in_the_log(serve):
    server = serve("raise_in_run.py")
    resp = server.score({}, headers={"x-request-id": "leak-check-1"})
    assert resp.status == 500
    assert body_json(resp) == {"message": GENERIC}
    assert_no_leak(resp.body, SECRET, "ValueError", "/opt/model")
    log = server.log()
    assert "ValueError: db password=hunter2-SECRET" in log
    assert "Traceback (most recent call last)" in log
    assert "leak-check-1" in log  # the log entry carries the request id


def test_no_leak_from_crashes_timeouts_and_bad_requests(serve):
    server = serve("segfault_in_run.py", "--worker_count", "2",
                   env={"SCORING_TIMEOUT_MS": "800", "SCOREHOST_TIMEOUT_GRACE_MS": "300"})
    answers = [
        server.score({"crash": True}),
        server.score({"sleep": 5}),                      # scoring timeout
        server.score(b"{not json", {"Content-Type": "application/json"}),
        server.request("GET", "/no/such/route"),
        server.request("DELETE", "/score"),
        server.request("GET", "/swagger.json?version=99"),
    ]
    for resp in answers:
        assert_no_leak(resp.body)
        if resp.header("content-type") == "application/json":
            assert set(body_json(resp)) <= {"message", "status"}, resp.body


def test_debug_mode_puts_the_exception_into_the_response(serve):
    server = serve("raise_in_run.py", "--debug")
    resp = server.score({})
    assert resp.status == 500
    body = body_json(resp)
    assert body["message"] == GENERIC
    assert "ValueError: db password=hunter2-SECRET" in body["exception"]
    assert "Traceback" in body["traceback"]


def _calls(path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_api_key(serve, tmp_path):
    key = "k3y-" + "z" * 40
    calls = tmp_path / "calls"
    server = serve("count_calls.py", env={"SCOREHOST_API_KEY": key, "CALLS_FILE": str(calls)})
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": key},
                    {"Authorization": "Basic " + key}, {"Authorization": "Bearer " + key[:-1]}):
        resp = server.score({"x": 1}, headers=headers)
        assert resp.status == 401, headers
        assert resp.header("www-authenticate") == 'Bearer realm="scorehost"'
        assert "Authorization: Bearer <key>" in body_json(resp)["message"]
        assert server.request("GET", "/swagger.json", headers=headers).status == 401
    assert _calls(calls) == 0  # run() never called without the key
    ok = server.score({"x": 1}, headers={"Authorization": "Bearer " + key})
    assert ok.status == 200 and _calls(calls) == 1
    assert server.request("GET", "/swagger.json", headers={"Authorization": "bearer " + key}).status == 200
    for probe in ("/", "/health/live", "/health/ready", "/health"):
        assert server.request("GET", probe).status == 200, probe
    server.stop()
    assert key not in server.log()


def test_api_key_from_file(serve, tmp_path):
    key = "from-file-" + "q" * 30
    key_file = tmp_path / "api-key"
    key_file.write_text(key + "\n")
    calls = tmp_path / "calls"
    server = serve("count_calls.py", env={"SCOREHOST_API_KEY_FILE": str(key_file), "CALLS_FILE": str(calls)})
    assert server.score({}).status == 401
    assert server.score({}, headers={"Authorization": f"Bearer {key}"}).status == 200
    assert _calls(calls) == 1
    server.stop()
    assert key not in server.log()
