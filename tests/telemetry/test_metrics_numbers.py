"""/metrics numbers (Metrics.observe per reported request, rendered at each scrape) must equal
counts and sums computed independently here, bucket bounds included, across several scrapes."""
import random

import pytest
from prometheus_client.parser import text_string_to_metric_families

from scorehost.telemetry_metrics import _BUCKETS, Metrics


def _scrape(metrics: Metrics) -> dict:
    body, _ = metrics.render()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


def _expected(requests: list[tuple]) -> dict:
    """The numbers computed from the requests one at a time, independently of Metrics."""
    out: dict = {}

    def add(key, value):
        out[key] = out.get(key, 0) + value

    def histogram(name, labels, seconds):
        for bound in _BUCKETS:
            le = "+Inf" if bound == float("inf") else repr(bound)
            add((f"{name}_bucket", tuple(sorted(labels + (("le", le),)))), 1 if seconds <= bound else 0)
        add((f"{name}_count", labels), 1)
        add((f"{name}_sum", labels), seconds)

    for route, status, duration_ms, queue_ms, fn_ms, kind in requests:
        add(("scorehost_requests_total", (("route", route), ("status", str(status)))), 1)
        histogram("scorehost_request_duration_seconds", (("route", route),), duration_ms / 1000)
        if queue_ms is not None:
            histogram("scorehost_queue_wait_seconds", (), queue_ms / 1000)
            if fn_ms is not None:
                histogram("scorehost_run_duration_seconds", (), fn_ms / 1000)
            add(("scorehost_run_results_total", (("kind", kind),)), 1)
    return out


def _requests(n: int, seed: int) -> list[tuple]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        route = rng.choice(["/score", "/score", "/swagger.json"])
        reached = route == "/score" and rng.random() < 0.9  # the rest never reached a runner
        kind = rng.choice(["ok", "ok", "user_error", "timeout"]) if reached else None
        # values between bucket bounds, and the bounds themselves (in ms: 1 ms, 25 ms, 1 s)
        fn_ms = None if kind == "timeout" or not reached else rng.choice([rng.uniform(0.01, 3000), 1.0, 1000.0])
        queue_ms = rng.choice([rng.uniform(0.001, 50.0), 1.0, 25.0]) if reached else None
        duration = rng.choice([rng.uniform(0.05, 70000), 1.0, 25.0, 1000.0])
        out.append((route, rng.choice([200, 200, 400, 500, 503]), duration, queue_ms, fn_ms, kind))
    return out


def _assert_same(got: dict, want: dict) -> None:
    for key, value in want.items():
        assert got.get(key) == pytest.approx(value, rel=1e-9, abs=1e-9), key
    for key, value in got.items():  # nothing counted that was not sent
        if key[0].startswith(("scorehost_requests_total", "scorehost_request_duration", "scorehost_queue_wait",
                              "scorehost_run_duration", "scorehost_run_results")) and not key[0].endswith("_created"):
            assert key in want or value == 0, key


def test_numbers_equal_an_independent_count_across_scrapes():
    metrics = Metrics()
    sent: list[tuple] = []
    for part, n in enumerate((0, 1, 57, 300)):
        batch = _requests(n, seed=part)
        for request in batch:
            metrics.observe(*request)
        sent += batch
        _assert_same(_scrape(metrics), _expected(sent))

