"""Issue 3.4: request limits. Oversized bodies (Content-Length or chunked) get 413 before they are
read, without the front's memory growing; slow bodies are cut off at SCOREHOST_BODY_TIMEOUT_MS
without slowing other clients; request-line/header limits (414/431) and the keep-alive timeout hold.

Raw sockets throughout, so the client never pushes the whole body before reading the answer.
"""
from __future__ import annotations

import json
import select
import socket
import time

from faultlib import RawClient, front_pid, percentile, rss_kb

MiB = 1024 * 1024


def _send_until_answer(client: RawClient, chunks, deadline_s: float = 20.0):
    """Send the byte pieces from ``chunks`` until the server answers (readable socket) or they end.
    Returns (bytes sent, monotonic time the limit was crossed or None)."""
    sent = 0
    end = time.monotonic() + deadline_s
    for piece in chunks:
        if time.monotonic() > end:
            break
        readable, _, _ = select.select([client.sock], [], [], 0)
        if readable:
            break
        try:
            client.sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            break
        sent += len(piece)
    return sent


def test_content_length_over_the_limit_gets_413_at_once(serve):
    server = serve("echo.py")  # the default limit: 100 MiB
    front = front_pid(server)
    assert server.score({"warm": "up"}).status == 200
    before = rss_kb(front)
    timings = []
    for _ in range(10):
        client = RawClient(server.port)
        started = time.monotonic()
        client.send_head("POST", "/score", {"Content-Type": "application/json", "Content-Length": str(200 * MiB)})
        client.send(b"x" * 65536)
        status, headers, body = client.read_response(timeout=5)
        timings.append(time.monotonic() - started)
        assert status == 413
        message = json.loads(body)["message"]
        assert f"({200 * MiB} bytes) is larger than the limit of {100 * MiB} bytes" in message
        assert "SCOREHOST_MAX_REQUEST_BYTES" in message
        assert client.closed_by_peer(timeout=5)  # the rest of the body is never read
        client.close()
    grown = rss_kb(front) - before
    print(f"413 (Content-Length) max {max(timings) * 1000:.1f} ms; front RSS grew {grown} kB")
    assert max(timings) < 0.2, timings
    assert grown < 10 * 1024, grown
    assert server.score({"still": "fine"}).status == 200


def test_chunked_body_over_the_limit_gets_413(serve):
    limit = 4 * MiB
    server = serve("echo.py", env={"SCOREHOST_MAX_REQUEST_BYTES": str(limit)})
    front = front_pid(server)
    assert server.score({"warm": "up"}).status == 200
    before = rss_kb(front)
    piece = b"x" * 65536
    framed = b"%x\r\n%s\r\n" % (len(piece), piece)
    delays = []
    for _ in range(5):
        client = RawClient(server.port)
        client.send_head("POST", "/score", {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        # exactly the limit first (accepted so far), then one more chunk crosses it
        sent = _send_until_answer(client, [framed] * (limit // len(piece)))
        assert sent == (limit // len(piece)) * len(framed)
        crossed = time.monotonic()
        sent = _send_until_answer(client, [framed] * 64)  # keep sending, as a client would
        status, headers, body = client.read_response(timeout=5)
        delays.append(time.monotonic() - crossed)
        assert status == 413
        assert f"larger than the limit of {limit} bytes" in json.loads(body)["message"]
        assert client.closed_by_peer(timeout=5)
        client.close()
    grown = rss_kb(front) - before
    print(f"413 (chunked) max {max(delays) * 1000:.1f} ms after the limit; front RSS grew {grown} kB")
    assert max(delays) < 0.2, delays
    assert grown < 10 * 1024, grown
    assert server.score({"still": "fine"}).status == 200


def test_chunked_body_under_the_limit_is_accepted(serve):
    server = serve("echo.py", env={"SCOREHOST_MAX_REQUEST_BYTES": str(MiB)})
    client = RawClient(server.port)
    client.send_head("POST", "/score", {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    payload = json.dumps({"a": "b" * 1000}).encode()
    for i in range(0, len(payload), 100):
        part = payload[i:i + 100]
        client.send(b"%x\r\n%s\r\n" % (len(part), part))
    client.send(b"0\r\n\r\n")
    status, _, body = client.read_response()
    assert status == 200
    assert json.loads(body) == {"echo": {"a": "b" * 1000}}
    client.close()


def test_slow_body_is_cut_off_at_the_deadline(serve):
    server = serve("echo.py", env={"SCOREHOST_BODY_TIMEOUT_MS": "1000"})
    for framing in ("length", "chunked"):
        client = RawClient(server.port)
        started = time.monotonic()
        if framing == "length":
            client.send_head("POST", "/score", {"Content-Type": "application/json", "Content-Length": "100"})
            client.send(b'{"a": ')
        else:
            client.send_head("POST", "/score", {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
            client.send(b'6\r\n{"a": \r\n')
        status, _, body = client.read_response(timeout=5)
        elapsed = time.monotonic() - started
        assert status == 408, body
        assert "SCOREHOST_BODY_TIMEOUT_MS" in json.loads(body)["message"]
        assert client.closed_by_peer(timeout=2)
        print(f"slow body ({framing}) cut after {elapsed:.2f} s")
        assert 0.9 < elapsed < 2.0, elapsed
        client.close()


def test_a_trickling_body_is_cut_off_too(serve):
    """A client sending a byte every 100 ms never idles, but still misses the whole-body deadline."""
    server = serve("echo.py", env={"SCOREHOST_BODY_TIMEOUT_MS": "1000"})
    client = RawClient(server.port)
    started = time.monotonic()
    client.send_head("POST", "/score", {"Content-Type": "application/json", "Content-Length": "1000"})
    status = None
    for _ in range(40):
        readable, _, _ = select.select([client.sock], [], [], 0.1)
        if readable:
            status = client.read_response(timeout=2)[0]
            break
        client.send(b" ")
    elapsed = time.monotonic() - started
    assert status == 408
    assert elapsed < 2.0, elapsed
    client.close()


def test_100_slow_clients_do_not_slow_scoring(serve):
    server = serve("echo.py", "--worker_count", "2", env={"SCOREHOST_BODY_TIMEOUT_MS": "30000"})

    def latencies(n=300):
        out = []
        for i in range(n):
            resp = server.score({"i": i})
            assert resp.status == 200
            out.append(resp.elapsed)
        return out

    latencies(20)  # warm-up
    base = latencies()
    slow = []
    for _ in range(100):
        client = RawClient(server.port)
        client.send_head("POST", "/score", {"Content-Type": "application/json", "Content-Length": "1000000"})
        client.send(b'{"a": "')
        slow.append(client)
    try:
        time.sleep(0.3)
        loaded = latencies()
        # the slow clients are still connected (not yet cut off)
        assert not any(select.select([c.sock], [], [], 0)[0] for c in slow)
    finally:
        for c in slow:
            c.close()
    p99_base, p99_loaded = percentile(base, 99), percentile(loaded, 99)
    print(f"scoring p99: {p99_base * 1000:.1f} ms alone, {p99_loaded * 1000:.1f} ms with 100 slow clients")
    assert p99_loaded - p99_base < 0.100, (p99_base, p99_loaded)


def test_request_line_and_header_limits(serve):
    server = serve("echo.py")
    client = RawClient(server.port)
    client.send(b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert client.read_response()[0] == 414
    client.close()
    client = RawClient(server.port)
    client.send(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 10000 + b"\r\n\r\n")
    assert client.read_response()[0] == 431
    client.close()
    client = RawClient(server.port)
    client.send(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + b"".join(b"X-H%d: 1\r\n" % i for i in range(200)) + b"\r\n")
    assert client.read_response()[0] == 431
    client.close()
    # and a long request id (scorehost's own limit): 431 with a JSON message
    resp = server.score({}, headers={"x-request-id": "r" * 101})
    assert resp.status == 431
    assert "x-request-id must not exceed 100 characters" in resp.json()["message"]


def test_keepalive_timeout_closes_idle_connections(serve):
    server = serve("echo.py", env={"SCOREHOST_KEEPALIVE_S": "1"})
    client = RawClient(server.port)
    client.send_head("GET", "/health/live", {})
    assert client.read_response()[0] == 200
    started = time.monotonic()
    assert client.closed_by_peer(timeout=5)
    idle = time.monotonic() - started
    assert 0.5 < idle < 2.5, idle
    client.close()
    # a connection that never sends a full request head is closed too
    client = RawClient(server.port)
    client.send(b"POST /score HTTP/1.1\r\nHo")
    started = time.monotonic()
    assert client.closed_by_peer(timeout=5)
    assert time.monotonic() - started < 2.5
    client.close()


def test_malformed_bodies_get_a_clear_400_not_a_hang(serve):
    server = serve("echo.py", env={"SCOREHOST_BODY_TIMEOUT_MS": "5000"})
    # an invalid chunk size
    client = RawClient(server.port)
    client.send_head("POST", "/score", {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    client.send(b"zz\r\n{}\r\n0\r\n\r\n")
    started = time.monotonic()
    status, _, body = client.read_response(timeout=5)
    assert status == 400, body
    assert time.monotonic() - started < 1.0
    assert b"Traceback" not in body
    client.close()
    # a body shorter than its Content-Length, then the client half-closes
    client = RawClient(server.port)
    client.send_head("POST", "/score", {"Content-Type": "application/json", "Content-Length": "100"})
    client.send(b'{"a": 1}')
    client.sock.shutdown(socket.SHUT_WR)
    started = time.monotonic()
    try:
        status, _, body = client.read_response(timeout=5)
        assert status == 400, body
        assert "ended before Content-Length" in json.loads(body)["message"]
    except ConnectionError:
        pass  # closing without an answer is fine too: nobody is left to read it
    assert time.monotonic() - started < 1.0
    client.close()
    assert server.score({"ok": 1}).status == 200
