"""The telemetry exporter process of a running server, found in /proc (the tests run where the
server's processes are visible: as children here, or a container's, from the host as root)."""
from __future__ import annotations

import os
import time
from pathlib import Path


def _stat_fields(stat: str) -> list[str]:
    """The fields of /proc/PID/stat after the command name (state, ppid, ...); the name is in
    parentheses and may itself hold spaces and parentheses."""
    return stat.rsplit(")", 1)[1].split()


def parent_pid(pid: int) -> int:
    return int(_stat_fields(Path(f"/proc/{pid}/stat").read_text())[1])


def exporter_pids(root: int) -> list[int]:
    """Live telemetry exporter processes under ``root``, the server's arbiter
    (arbiter -> front worker -> exporter)."""
    parents, cmdlines = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        fields = _stat_fields(stat)
        if fields[0] == "Z":
            continue
        parents[int(entry)] = int(fields[1])
        cmdlines[int(entry)] = cmdline
    found = []
    for pid, cmdline in cmdlines.items():
        if b"scorehost.telemetry_exporter" not in cmdline:
            continue
        ancestor, hops = parents.get(pid), 0
        while ancestor and hops < 5 and ancestor != root:
            ancestor, hops = parents.get(ancestor), hops + 1
        if ancestor == root:
            found.append(pid)
    return found


def wait_exporter(root: int, not_in=(), timeout: float = 30.0) -> int | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [p for p in exporter_pids(root) if p not in not_in]
        if pids:
            return pids[0]
        time.sleep(0.1)
    return None
