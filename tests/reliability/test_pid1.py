"""Issue 3.6, PID 1: scorehost as the first process of its own PID namespace (as in a container
without an init): it reaps orphans left by dead runners and exits 0 on SIGTERM after finishing
in-flight requests."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from faultlib import FIXTURES, children, parallel, wait_until
from serverlib import Server, free_port


def _unshare_works() -> bool:
    if not shutil.which("unshare"):
        return False
    try:
        return subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"],
                              capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


pytestmark = pytest.mark.skipif(not _unshare_works(), reason="needs unshare --pid (root or user namespaces)")


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _zombies_under(pid: int) -> list[int]:
    out = []
    for child in children(pid):
        try:
            state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z":
            out.append(child)
    return out


def test_pid1_reaps_orphans_and_exits_0_on_sigterm(tmp_path):
    port = free_port()
    log_path = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZUREML_", "AML_", "SCOREHOST_"))}
    env.update({"PYTHONUNBUFFERED": "1", "SCOREHOST_GRACEFUL_TIMEOUT": "10"})
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-m", "scorehost", "serve",
             "--entry_script", str(FIXTURES / "orphan_in_run.py"), "--worker_count", "2",
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    server = Server(proc, port, log_path)
    try:
        server.wait_ready(60)
        pid1 = children(proc.pid)[0]  # the arbiter: PID 1 inside the namespace
        nspid = [line for line in Path(f"/proc/{pid1}/status").read_text().splitlines()
                 if line.startswith("NSpid:")][0]
        assert nspid.split()[-1] == "1", nspid
        assert server.score({"orphan": True}).status == 500  # the runner exited, its child is orphaned
        assert "sleep" in [_comm(c) for c in children(pid1)]  # adopted by PID 1 (still sleeping)
        time.sleep(0.6)  # the orphan (sleep 0.3) has exited and must have been reaped by PID 1
        assert wait_until(lambda: not _zombies_under(pid1), timeout=3), _zombies_under(pid1)

        def one(i):
            if i < 3:
                return server.score({"sleep": 1.0}, timeout=30).status
            time.sleep(0.3)
            os.kill(pid1, signal.SIGTERM)
            return proc.wait(timeout=20)

        results = parallel(one, [0, 1, 2, 3])
        assert results[:3] == [200, 200, 200], results
        assert results[3] == 0, server.log()
    finally:
        server.stop()
