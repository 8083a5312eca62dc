"""The local channel between the HTTP front and a runner process.

One ``AF_UNIX`` stream socketpair per runner, created by the front; the runner gets its end
as an inherited file descriptor. Each message is a frame: a 4-byte big-endian length, then a
pickled tuple of plain values (str, bytes, int, float, bool, None, list, tuple, dict) whose
first item is the message kind. Both processes are ours and trust each other; no user object
ever crosses the channel (the runner turns run()'s result into bytes first).

Measured on the 2-core machine with ``bench/ipc_roundtrip.py`` (CPU of both processes per
request/response round trip): 10 µs with a 200-byte body (JSON frames: 14.5 µs,
``multiprocessing.Pipe``: 13.5 µs); with a 120 KB body, see that script's docstring.
JSON cannot carry bytes without escaping them, and ``multiprocessing.connection`` (the same
length-prefixed pickles) blocks on its own file objects instead of cooperating with gevent.

Front -> runner::

    (CALL, seq, environ, body, ctx)      environ: CGI/WSGI keys of the request (str values)
                                         ctx: request_id, client_request_id, timeout_ms, ...
    (STOP,)                              finish what is running, then exit 0

Runner -> front::

    (READY, info)                        init() finished; info describes the entry script
    (FAILED, info)                       import/contract/init failed; the runner exits 3
    (RESULT, seq, status, headers, body, fn_ms, kind, item)    a complete answer
    (START, seq, status, headers, fn_ms)                  a streamed answer begins ...
    (CHUNK, seq, data)                                    ... one piece of its body ...
    (END, seq, error)                                     ... and ends (error: str or None)
    (EVENT, name, payload)               telemetry for the front (exceptions, logs, data)

``kind`` in RESULT tells the front what happened: "ok", "bad_input", "user_error",
"timeout", "serialization_error" (used for metrics and logs; the status and body are final).
``item`` is the App Insights/OTLP request item the runner built for this answer, pickled for
the telemetry exporter process (format in :mod:`scorehost.telemetry_channel`), or None when
telemetry export is off; the front passes it on without reading it.
"""
from __future__ import annotations

import json
import os
import pickle
import struct

CALL, STOP, READY, FAILED, RESULT, START, CHUNK, END, EVENT = range(9)

_LEN = struct.Struct("!I")
MAX_FRAME = 2**32 - 1
_PROTO = pickle.HIGHEST_PROTOCOL


class ChannelClosed(EOFError):
    """The other end closed the channel (or died)."""


_SMALL = 64 * 1024  # below this, header and payload go out in one write


def frame(message: tuple) -> tuple[bytes, ...]:
    """The bytes of one frame: one buffer for small messages, (header, payload) for large ones
    (so a 100 MB body is not copied just to prepend four bytes)."""
    payload = pickle.dumps(message, _PROTO)
    if len(payload) > MAX_FRAME:
        raise ValueError("message too large for one frame (%d bytes)" % len(payload))
    if len(payload) < _SMALL:
        return (_LEN.pack(len(payload)) + payload,)
    return (_LEN.pack(len(payload)), payload)


def encode(message: tuple) -> bytes:
    return b"".join(frame(message))


def send(sock, message: tuple) -> None:
    """Write one frame (blocking, or cooperative under gevent). Callers sharing a socket
    between threads hold a lock around this."""
    for buf in frame(message):
        sendall(sock, buf)


def sendall(sock, data: bytes) -> None:
    """``sock.sendall(data)``, trying one plain ``send`` first: gevent's ``sendall`` asks the
    kernel for the socket's buffer size on every call (a syscall per frame, measured at ~5% of
    the front's CPU on the echo benchmark), and a frame usually fits in one send."""
    sent = sock.send(data)
    if sent < len(data):
        sock.sendall(memoryview(data)[sent:])


class FrameReader:
    """Reads frames from a stream socket, buffering partial reads."""

    __slots__ = ("_sock", "_buf")

    def __init__(self, sock):
        self._sock = sock
        self._buf = bytearray()

    def _fill(self, need: int) -> None:
        while len(self._buf) < need:
            chunk = self._sock.recv(max(65536, need - len(self._buf)))
            if not chunk:
                raise ChannelClosed("channel closed")
            self._buf += chunk

    def read(self) -> tuple:
        buf = self._buf
        if len(buf) < 4:
            self._fill(4)
        (size,) = _LEN.unpack_from(buf, 0)
        total = 4 + size
        if len(buf) < total and size >= _SMALL:
            return self._read_large(size)
        if len(buf) < total:
            self._fill(total)
        with memoryview(buf) as view:
            message = pickle.loads(view[4:total])
        del buf[:total]
        return message

    def _read_large(self, size: int) -> tuple:
        """Receive a large payload straight into a buffer of its size (no repeated copies)."""
        payload = bytearray(size)
        have = len(self._buf) - 4
        payload[:have] = self._buf[4:]
        self._buf.clear()
        view = memoryview(payload)
        while have < size:
            got = self._sock.recv_into(view[have:], size - have)
            if not got:
                raise ChannelClosed("channel closed")
            have += got
        view.release()
        return pickle.loads(payload)


class FrameBuffer:
    """Frames from a non-blocking file descriptor, for a reader driven by readiness callbacks
    (the front reads runner channels this way, in gevent's hub): :meth:`read_from` does one
    ``read`` when the descriptor is readable, :meth:`messages` returns the frames completed so far."""

    __slots__ = ("_buf", "_large", "_have")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._large: bytearray | None = None  # a large payload being received in place
        self._have = 0

    def read_from(self, fd: int) -> bool:
        """One read; False at end of file. Raises BlockingIOError if there is nothing to read."""
        large = self._large
        if large is not None:
            with memoryview(large) as view:
                got = os.readv(fd, [view[self._have:]])
            self._have += got
            return got > 0
        data = os.read(fd, 262144)
        self._buf += data
        return bool(data)

    def messages(self) -> list[tuple]:
        out = []
        large = self._large
        if large is not None:
            if self._have < len(large):
                return out
            self._large = None
            out.append(pickle.loads(large))
        buf = self._buf
        while len(buf) >= 4:
            (size,) = _LEN.unpack_from(buf, 0)
            total = 4 + size
            if len(buf) < total:
                if size >= _SMALL:  # receive the rest straight into a buffer of its size
                    large = self._large = bytearray(size)
                    self._have = len(buf) - 4
                    with memoryview(buf) as view:
                        large[:self._have] = view[4:]
                    buf.clear()
                break
            with memoryview(buf) as view:
                out.append(pickle.loads(view[4:total]))
            del buf[:total]
        return out


# ------------------------------------------------------------------ error answers

def json_body(obj) -> bytes:
    return json.dumps(obj).encode("utf-8")


def error_headers(run_failed: bool) -> list[tuple[str, str]]:
    return [("Content-Type", "application/json"), ("x-ms-run-function-failed", str(bool(run_failed)))]


def error_result(seq: int, status: int, message: str, *, run_failed: bool = False, kind: str,
                 fn_ms: float | None = None) -> tuple:
    """The fields of a RESULT message carrying azmlinfsrv's error shape, ``{"message": ...}``,
    without its ``item`` (``Runner.send_result`` adds it)."""
    return (RESULT, seq, status, error_headers(run_failed), json_body({"message": message}), fn_ms, kind)
