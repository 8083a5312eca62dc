"""The cost of App Insights telemetry on throughput: N servers with telemetry off against N with
App Insights + metrics on, in one run of the shared harness (issue 4's target: >= 0.9x).

    python bench/telemetry.py --venv-root /path/to/bench-venvs [--instances 3] \\
        [--concurrency 1,8,64] [--rounds 5] [--duration 3] [--ingest-delay-ms 20] [--json out.json]

Why several instances of each: on the shared 2-core machine two identical server instances
differ by up to 15% in a cell (off2/off medians 0.95-1.11 over five runs), as much as the
effect measured. Each round runs every instance once (the harness rotates the order); the
ratio of a round is the mean req/s of the App Insights instances over the mean of the off
instances, and the report gives the median and the range of those per-round ratios, with server
CPU per request (front, runners and exporter process, from /proc) the same way.

The ingestion endpoint is a loopback receiver (tests/telemetry/receivers.py) that counts the
envelopes and answers each POST after ``--ingest-delay-ms`` (a remote endpoint's round trip).
The servers are scorehost from ``--scorehost`` (default: this checkout's .venv); off is
``SCOREHOST_METRICS=false`` with no connection string, on is the defaults plus
``APPLICATIONINSIGHTS_CONNECTION_STRING``.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "telemetry"))
from receivers import AppInsightsReceiver  # noqa: E402


def group_ratios(results: list[dict]) -> dict:
    """{conc: (per-round rps ratios, per-round cpu-per-request ratios)}, on/off group means."""
    cells: dict = collections.defaultdict(lambda: {"off": [], "ai": []})
    for r in results:
        if "rps" not in r or not r.get("ok"):
            continue
        group = "ai" if r["server"].startswith("ai") else "off"
        cells[(r["conc"], r["round"])][group].append((r["rps"], r["srv_cpu_ms"] / r["ok"]))
    out: dict = collections.defaultdict(lambda: ([], []))
    for (conc, _round), groups in sorted(cells.items()):
        if groups["off"] and groups["ai"]:
            def mean(group, i):
                return statistics.mean(v[i] for v in groups[group])
            out[conc][0].append(mean("ai", 0) / mean("off", 0))
            out[conc][1].append(mean("ai", 1) / mean("off", 1))
    return dict(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv-root", required=True, help="the shared harness's venv folder (setup.sh)")
    parser.add_argument("--harness", default=os.path.join(ROOT, "..", "shared", "bench", "bench.py"))
    parser.add_argument("--scorehost", default=os.path.join(ROOT, ".venv", "bin", "scorehost"))
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument("--concurrency", default="1,8,64")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=3)
    parser.add_argument("--ingest-delay-ms", type=float, default=20.0)
    parser.add_argument("--json", help="also write the harness's raw results here")
    args = parser.parse_args(argv)
    if not 1 <= args.instances <= 4:
        parser.error("--instances: 1 to 4 (each instance is a server on this machine)")

    receiver = AppInsightsReceiver(keep=False)
    receiver.delay_s = args.ingest_delay_ms / 1000.0
    serve = f"{args.scorehost} serve --entry_script {{script}} --model_dir {{model_dir}} --port {{port}} --host 127.0.0.1"
    names = [f"{kind}{i}" for i in range(1, args.instances + 1) for kind in ("off", "ai")]
    command = [sys.executable, args.harness, "--venv-root", args.venv_root, "--only", ",".join(names),
               "--baseline", "off1", "--fixtures", "echo", "--concurrency", args.concurrency,
               "--rounds", str(args.rounds), "--duration", str(args.duration)]
    for name in names:
        command += ["--server", name, serve]
        if name.startswith("off"):
            command += ["--env", name, "SCOREHOST_METRICS=false"]
        else:
            command += ["--env", name, f"APPLICATIONINSIGHTS_CONNECTION_STRING={receiver.connection_string()}"]
    with tempfile.TemporaryDirectory() as tmp:
        raw = args.json or os.path.join(tmp, "results.json")
        try:
            code = subprocess.call(command + ["--json", raw])
        finally:
            receiver.close()
        if code != 0 or not os.path.exists(raw):
            print(f"the harness failed (exit {code})", file=sys.stderr)
            return code or 1
        with open(raw) as f:
            results = json.load(f)["results"]
    print(f"\n## App Insights + metrics on / telemetry off, {args.instances} instances each "
          f"(per-round ratio of group means; ingestion answers after {args.ingest_delay_ms:g} ms; "
          f"{receiver.count} items received)")
    for conc, (rps, cpu) in sorted(group_ratios(results).items()):
        print(f"echo@{conc:<3} req/s {statistics.median(rps):.3f} (rounds {min(rps):.2f}-{max(rps):.2f})   "
              f"server CPU per request {statistics.median(cpu):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
