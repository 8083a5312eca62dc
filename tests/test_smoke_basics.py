"""The happy path through a real server: readiness, scoring, request ids, probes."""


def test_echo_round_trip(serve):
    server = serve("echo.py")
    resp = server.score({"a": 1})
    assert resp.status == 200
    assert resp.json() == {"echo": {"a": 1}}
    assert resp.header("x-ms-run-function-failed") == "False"
    assert float(resp.header("x-ms-run-fn-exec-ms")) >= 0
    assert resp.header("x-request-id") == resp.header("x-ms-request-id")


def test_probes(serve):
    server = serve("echo.py")
    assert server.request("GET", "/").body == b"Healthy"
    assert server.request("GET", "/health/live").status == 200
    assert server.request("GET", "/health/ready").status == 200
    health = server.request("GET", "/health").json()
    assert health["status"] == "ready"
    assert health["runners"][0]["state"] == "ready"
