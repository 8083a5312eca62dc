"""Shared fixtures: ``serve`` starts a real scorehost server (see serverlib.py) and stops it
at teardown."""
from __future__ import annotations

from pathlib import Path

import pytest

from serverlib import FIXTURES, Server, start_server

@pytest.fixture
def serve(tmp_path):
    """``serve("fixture_name.py", env={...}, ready=True)`` -> a running Server, stopped at teardown."""
    servers: list[Server] = []

    def _serve(script: str | Path | None = None, *args: str, env: dict | None = None, ready: bool = True,
               ready_timeout: float = 60.0, cwd=None) -> Server:
        argv = list(args)
        if script is not None:
            path = Path(script)
            if not path.is_absolute():
                path = FIXTURES / path
            argv = ["--entry_script", str(path), *argv]
        server = start_server(tmp_path, *argv, env=env, cwd=cwd)
        servers.append(server)
        if ready:
            server.wait_ready(ready_timeout)
        return server

    yield _serve
    for server in servers:
        server.stop()
