"""The front's share of App Insights + metrics cost, measured inside one server instance.

    .venv/bin/python bench/front_share.py [--seconds 110] [--connections 8] [--switch all|trace|metrics|export]

(the interpreter that has scorehost installed: the server is started with it, by tests/serverlib.py)

Why: identical server instances differ by up to 15% on the shared 2-core machine, and a run of
a few seconds by more, so comparing instances (bench/telemetry.py) resolves a few percent only
over many runs. Here one App Insights server switches its own front's telemetry on and off every
0.5 s under a steady wrk load (bench/front_share_probe/sitecustomize.py, loaded through
PYTHONPATH: it patches the front as it is imported and counts requests and the front's CPU time
per interval). Adjacent on/off intervals make a pair, and the report is the median of the
per-pair ratios (req/s, front CPU per request) with a 95% confidence interval of the median:
about ±2% for 110 s. The exporter process keeps running in the off intervals (idle), so this
measures the front's part only. Results: docs/telemetry.md, "Cost".

The ingestion endpoint is a loopback receiver (tests/telemetry/receivers.py) answering each POST
after 20 ms; the script is the shared harness's echo fixture unless --entry-script is given.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(ROOT, "tests"), os.path.join(ROOT, "tests", "telemetry")]
from receivers import AppInsightsReceiver  # noqa: E402
from serverlib import start_server  # noqa: E402

POST_LUA = 'wrk.method = "POST"\nwrk.body = \'{"msg": "hi", "x": [1,2,3]}\'\nwrk.headers["Content-Type"] = "application/json"\n'


def measured_rows(lines: list[str]) -> list[list[str]]:
    """The intervals' fields, without the first two intervals (warm-up) and the last (cut short
    by the end of the load)."""
    return [line.split() for line in lines][2:-1]


def pairs(lines: list[str]) -> list[tuple[float, float]]:
    """(req/s on/off, CPU per request on/off) for each adjacent on, off interval."""
    rows = measured_rows(lines)
    out = []
    for on, off in zip(rows[0::2], rows[1::2]):
        if on[0] != "on" or off[0] != "off" or int(on[1]) == 0 or int(off[1]) == 0:
            continue
        rps_on, rps_off = int(on[1]) / float(on[3]), int(off[1]) / float(off[3])
        cpu_on, cpu_off = float(on[2]) / int(on[1]), float(off[2]) / int(off[1])
        out.append((rps_on / rps_off, cpu_on / cpu_off))
    return out


def gc_totals(lines: list[str]) -> dict[str, tuple[int, float, float, int]]:
    """{on|off: (requests, front CPU s, garbage collection s, collections)} over the intervals
    ``pairs`` uses."""
    out: dict[str, list] = {}
    for row in measured_rows(lines):
        total = out.setdefault(row[0], [0, 0.0, 0.0, 0])
        total[0] += int(row[1])
        total[1] += float(row[2])
        total[2] += float(row[4])
        total[3] += int(row[5])
    return {mode: tuple(v) for mode, v in out.items() if v[0]}


def median_ci(values: list[float]) -> tuple[float, float, float]:
    """Median and a distribution-free 95% confidence interval of it (order statistics)."""
    xs = sorted(values)
    n = len(xs)
    k = max(0, int(n / 2 - 1.96 * n ** 0.5 / 2))
    return statistics.median(xs), xs[k], xs[n - 1 - k]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=110, help="load duration (default 110: ~108 pairs)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--switch", default="all", help="what to switch: all, trace, metrics, export, or several "
                        "of the last three separated by commas (default all)")
    parser.add_argument("--period", type=float, default=0.5, help="seconds per on or off interval")
    parser.add_argument("--entry-script", default=os.path.join(ROOT, "..", "shared", "bench", "fixtures", "echo",
                                                               "score.py"))
    parser.add_argument("--wrk", default="wrk")
    args = parser.parse_args(argv)
    if not 10 <= args.seconds <= 1800:
        parser.error("--seconds must be between 10 and 1800")
    if not set(args.switch.split(",")) <= {"all", "trace", "metrics", "export"}:
        parser.error("--switch takes all, trace, metrics, export, or several separated by commas")

    receiver = AppInsightsReceiver(keep=False)
    receiver.delay_s = 0.02
    with tempfile.TemporaryDirectory(prefix="front-share-") as tmp:
        out_path, lua = os.path.join(tmp, "intervals"), os.path.join(tmp, "post.lua")
        with open(lua, "w") as f:
            f.write(POST_LUA)
        env = {"SCOREHOST_PROBE_OUT": out_path, "SCOREHOST_PROBE_SWITCH": args.switch,
               "SCOREHOST_PROBE_PERIOD": str(args.period), "SCOREHOST_PROBE_MAX_S": str(args.seconds + 120),
               "PYTHONPATH": os.pathsep.join(filter(None, [os.path.join(HERE, "front_share_probe"),
                                                           os.environ.get("PYTHONPATH")])),
               "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
                                                        f"IngestionEndpoint=http://127.0.0.1:{receiver.port}/"}
        server = start_server(Path(tmp), "--entry_script", os.path.abspath(args.entry_script), env=env)
        try:
            server.wait_ready(120)
            subprocess.run([args.wrk, "-t1", f"-c{args.connections}", f"-d{args.seconds}s", "-s", lua,
                            f"http://127.0.0.1:{server.port}/score"], check=True, stdout=subprocess.DEVNULL,
                           timeout=args.seconds + 60)
        finally:
            server.stop()
            receiver.close()
        with open(out_path) as f:
            lines = f.read().splitlines()
        measured = pairs(lines)
    if len(measured) < 5:
        print(f"only {len(measured)} on/off pairs: run longer", file=sys.stderr)
        return 1
    rps, rps_lo, rps_hi = median_ci([p[0] for p in measured])
    cpu, cpu_lo, cpu_hi = median_ci([p[1] for p in measured])
    print(f"switching {args.switch} at {args.connections} connections, {len(measured)} on/off pairs: "
          f"req/s on/off {rps:.3f} (95% CI {rps_lo:.3f}-{rps_hi:.3f}), "
          f"front CPU per request on/off {cpu:.3f} ({cpu_lo:.3f}-{cpu_hi:.3f})")
    for mode, (n, cpu_s, gc_s, collections) in gc_totals(lines).items():
        print(f"  {mode}: front CPU {cpu_s / n * 1e6:.1f} us/request, of which garbage collection "
              f"{gc_s / n * 1e6:.2f} us ({collections / n * 1000:.2f} collections per 1000 requests)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
