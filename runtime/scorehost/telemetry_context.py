"""Trace-context and sampling helpers shared by the front and the runners (standard library only)."""
from __future__ import annotations

import hashlib
import os
import random
import zlib

_rand = random.Random()

# "Response Value" of a request item (APP_INSIGHTS_LOG_RESPONSE_ENABLED) that is not text
RESPONSE_STREAMED = '"Scoring request response payload is a streamed response"'
RESPONSE_NOT_TEXT = '"Scoring request response payload is a non serializable object or raw binary"'



def parse_traceparent(value: str | None) -> tuple[int, int, int] | None:
    """W3C ``traceparent`` -> (trace_id, parent span id, flags), or None when absent/invalid."""
    if not value or len(value) < 55:
        return None
    parts = value.strip().split("-")
    if len(parts) < 4 or len(parts[0]) != 2 or parts[0] == "ff" or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    try:
        trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3][:2], 16)
    except ValueError:
        return None
    if not trace_id or not span_id:
        return None
    return trace_id, span_id, flags


def new_trace_id() -> int:
    return _rand.getrandbits(128) or 1


def new_span_id() -> int:
    return _rand.getrandbits(64) or 1


_SPAN_MASK = (1 << 64) - 1


def new_trace_key() -> bytes:
    """The secret of one front process that :class:`CallTraceIds` derives ids from."""
    return os.urandom(16)


class CallTraceIds:
    """The trace id and server span id of the front's call number ``seq``, derived from the
    front's key with a keyed hash (BLAKE2b). They look random and differ between front
    processes, and the runner that serves the call and the front, should it answer the call
    itself (a timeout, a runner that died), arrive at the same ids: the front makes and sends
    none per request. ~0.7 µs per call (the keyed state is made once and copied)."""

    __slots__ = ("_keyed",)

    def __init__(self, key: bytes):
        self._keyed = hashlib.blake2b(key=key, digest_size=24)

    def __call__(self, seq: int) -> tuple[int, int]:
        h = self._keyed.copy()
        h.update(seq.to_bytes(8, "little"))
        bits = int.from_bytes(h.digest(), "big")
        return (bits >> 64) or 1, (bits & _SPAN_MASK) or 1


def request_trace(ids: tuple[int, int], traceparent: str | None) -> tuple[int, int, int | None]:
    """(trace id, server span id, the client's parent span id or None) of a request whose own
    ids are ``ids``: in the client's trace when it sent a valid ``traceparent``. The front and
    the runners both use this, so the items either builds for a call agree."""
    parent = parse_traceparent(traceparent) if traceparent else None
    if parent is None:
        return ids[0], ids[1], None
    return parent[0], ids[1], parent[1]


def response_text(body: bytes) -> str:
    """A request item's "Response Value" (APP_INSIGHTS_LOG_RESPONSE_ENABLED) for a whole body."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return RESPONSE_NOT_TEXT


def sampled(request_id: str, rate: float) -> bool:
    """Deterministic sampling by request id: the same id is always in or always out, so a
    drift job (or a test) can tell which requests were meant to be captured."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    return zlib.crc32(request_id.encode("utf-8", "replace")) / 4294967296.0 < rate


# ------------------------------------------------------------------ model ids (azmlinfsrv's rule)

def model_ids(model_dir: str | None) -> list[str]:
    """``name:version`` of the models under AZUREML_MODEL_DIR, as azmlinfsrv reports them."""
    ids: list[str] = []
    try:
        if not model_dir or not os.path.exists(model_dir):
            return ids
        if os.path.basename(os.path.normpath(model_dir)).isdigit():
            path = os.path.normpath(model_dir)
            return [f"{os.path.basename(os.path.dirname(path))}:{os.path.basename(path)}"]
        for model in sorted(os.listdir(model_dir)):
            path = os.path.join(model_dir, model)
            if os.path.isdir(path):
                ids.extend(f"{model}:{v}" for v in sorted(os.listdir(path)) if v.isdigit())
    except OSError:
        pass
    return ids
