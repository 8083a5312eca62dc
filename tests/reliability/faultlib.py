"""Helpers for the fault-injection suite: raw sockets, process inspection, concurrency."""
from __future__ import annotations

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def children(pid: int) -> list[int]:
    """Direct child pids of ``pid`` (Linux /proc)."""
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def front_pid(server) -> int:
    """The gunicorn front worker: the single child of the arbiter (the server process)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        kids = children(server.proc.pid)
        if kids:
            return kids[0]
        time.sleep(0.05)
    raise AssertionError("no front worker process found")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(p / 100.0 * len(ordered) + 0.5)) - 1))
    return ordered[index]


def parallel(fn, args: list, workers: int | None = None) -> list:
    """Run fn(arg) for each arg in threads; results in order (exceptions returned, not raised)."""
    def guarded(arg):
        try:
            return fn(arg)
        except Exception as exc:  # noqa: BLE001 - the caller asserts on it
            return exc
    with ThreadPoolExecutor(max_workers=workers or len(args)) as pool:
        return list(pool.map(guarded, args))


class RawClient:
    """An HTTP/1.1 client on a raw socket, for bodies sent slowly, partially or chunked."""

    def __init__(self, port: int, timeout: float = 10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_head(self, method: str, path: str, headers: dict) -> None:
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"] + [f"{k}: {v}" for k, v in headers.items()]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def read_response(self, timeout: float = 10.0) -> tuple[int, dict, bytes]:
        """Read one response (Content-Length framed); raises on EOF before a full response."""
        self.sock.settimeout(timeout)
        while b"\r\n\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError(f"connection closed before a response (got {self.buf!r})")
            self.buf += data
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            data = self.sock.recv(65536)
            if not data:
                break
            rest += data
        self.buf = rest[length:]
        return status, headers, rest[:length]

    def closed_by_peer(self, timeout: float) -> bool:
        """True if the server closes the connection (EOF or reset) within ``timeout`` seconds."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def body_json(resp) -> dict:
    return json.loads(resp.body)


def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def assert_no_leak(body: bytes, *secrets: str) -> None:
    text = body.decode("utf-8", "replace")
    assert "Traceback" not in text, text
    assert 'File "' not in text, text
    for secret in secrets:
        assert secret not in text, text


def runner_pids(server) -> list[int]:
    health = json.loads(server.request("GET", "/health").body)
    return [r["pid"] for r in health["runners"]]
