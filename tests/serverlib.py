"""Start a real scorehost server as a subprocess on 127.0.0.1 and talk HTTP to it.

Used by tests/conftest.py (the ``serve`` fixture) and by test modules that manage servers
themselves (module-scoped servers). A module of its own, not conftest.py: several
conftest.py files exist under tests/, and ``import conftest`` would find any of them.

The shape follows Werkzeug's live-server fixture: reserve a port, start the server as a
subprocess in its own process group, poll a URL until it answers, keep the log in tmp_path,
and stop everything (SIGTERM, then SIGKILL) at teardown. Every wait is bounded.
"""
from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from scorehost.smoke import stop_process_group

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Response:
    status: int
    headers: dict
    body: bytes
    elapsed: float

    def json(self):
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def request(port: int, method: str, path: str, body: bytes | str | dict | None = None,
            headers: dict | None = None, timeout: float = 30.0) -> Response:
    """One HTTP request to 127.0.0.1:port (a new connection each time)."""
    headers = dict(headers or {})
    if isinstance(body, dict):
        body = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        body = body.encode()
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data, time.monotonic() - started)
    finally:
        conn.close()


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    log_path: Path
    health_port: int | None = None
    extra: dict = field(default_factory=dict)

    def request(self, method: str, path: str, body=None, headers=None, timeout: float = 30.0) -> Response:
        return request(self.port, method, path, body, headers, timeout)

    def score(self, body=None, headers=None, timeout: float = 30.0) -> Response:
        return self.request("POST", "/score", body, headers, timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60.0, path: str = "/health/ready") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if request(self.port, "GET", path, timeout=2).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"server not ready within {timeout}s:\n{self.log()}")

    def wait_exit(self, timeout: float = 30.0) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"server still running after {timeout}s:\n{self.log()}") from None

    def stop(self) -> None:
        stop_process_group(self.proc, grace_s=15)


def start_server(tmp_path: Path, *args: str, env: dict | None = None, cwd: str | Path | None = None,
                 port: int | None = None) -> Server:
    """Start ``python -m scorehost serve ARGS --host 127.0.0.1 --port P`` (not waiting for readiness)."""
    port = port or free_port()
    log_path = tmp_path / f"server-{port}.log"
    full_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("AZUREML_", "AML_", "SCORING_", "SCOREHOST_", "WORKER_", "SERVICE_"))}
    full_env.update({"PYTHONUNBUFFERED": "1", "HOME": str(tmp_path)})
    full_env.update(env or {})
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "scorehost", "serve", *args, "--host", "127.0.0.1", "--port", str(port)],
            cwd=str(cwd or tmp_path), env=full_env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
    return Server(proc, port, log_path)
