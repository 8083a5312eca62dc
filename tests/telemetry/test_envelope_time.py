"""App Insights envelope times are formatted without datetime; they must equal what the
exporter's encoder writes for ``datetime.fromtimestamp(ns / 1e9, tz=utc)``."""
import datetime
import random
import time

from scorehost.telemetry_export import _iso


def reference(ns: int) -> str:
    return datetime.datetime.fromtimestamp(ns / 1e9, tz=datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def test_iso_time_matches_datetime_including_rounding_boundaries():
    rng = random.Random(20261122)
    now = time.time_ns()
    base = now // 10**9 * 10**9
    values = [now + rng.randrange(-10**15, 10**15) for _ in range(50_000)]
    values += [base + k for k in (0, 1, 499, 500, 501, 999, 1000, 1500, 2500, 999_999_499, 999_999_500,
                                  999_999_501, 999_999_999)]
    values += [base + d * 10**9 + rng.randrange(10**9) for d in range(200) for _ in range(5)]
    assert [v for v in values if _iso(v) != reference(v)] == []
