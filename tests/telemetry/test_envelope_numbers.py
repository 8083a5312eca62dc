"""The App Insights request envelope's millisecond dimensions (``scorehost.queue_ms``,
``scorehost.run_ms``) are formatted without ``round``; they must equal ``str(round(ms, 3))``,
which is what the Azure exporter's converter writes for the span attribute."""
import random

from scorehost.telemetry_export import _ms_str


def test_milliseconds_match_str_of_round_including_ties_and_large_values():
    rng = random.Random(20261122)
    values = [0.0, -0.0, 0.0004, 0.0005, 0.0015, 0.0025, 1.0005, 2.5, 0.1, 0.7, 123.4565, -1.2345, -0.0004,
              999_999_999_999.9995, 1e11 + 0.0005, 1e12, 1e13, 5e15, 1e-9, float("nan"), float("inf"), 5, 0]
    for _ in range(100_000):
        values.append(rng.random() * 10 ** rng.choice([-6, -4, -3, -2, 0, 2, 4, 8, 11]))
        values.append(round(rng.random() * 1000, rng.randint(0, 6)))
        values.append(rng.randint(0, 10**6) / 1000 + rng.choice([0.0, 0.0005, -0.0005, 1e-12]))
    assert [v for v in values if _ms_str(v) != str(round(v, 3))] == []
