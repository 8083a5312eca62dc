"""Model data collection: JSON Lines files a drift job can read.

Used by the ``ModelDataCollector`` fallback inside runners and by server-side capture
(``SCOREHOST_DATA_COLLECTION=jsonl``). Files are ``<dir>/<prefix>-<pid>-<n>.jsonl``, rotated
every ``ROTATE_BYTES``; writing stops (and says so once in the log) when the total written
reaches ``SCOREHOST_DATA_COLLECTION_MAX_BYTES``. Standard library only.
"""
from __future__ import annotations

import datetime
import json
import logging
import os
import threading
from typing import Any

from .logs import request_id_var

ROTATE_BYTES = 64 * 1024 * 1024
log = logging.getLogger("scorehost.datacollection")


def _default(obj: Any) -> Any:
    from .outputs import NotSerializable, _default as convert
    try:
        return convert(obj)
    except NotSerializable:
        return repr(obj)


class JsonlWriter:
    def __init__(self, directory: str, prefix: str, max_bytes: int, rotate_bytes: int = ROTATE_BYTES):
        self.directory = directory
        self.prefix = prefix
        self.max_bytes = max_bytes
        self.rotate_bytes = rotate_bytes
        self.written = 0
        self.dropped = 0
        self._file = None
        self._file_bytes = 0
        self._index = 0
        self._lock = threading.Lock()
        self._warned = False

    def _open(self):
        os.makedirs(self.directory, exist_ok=True)
        self._index += 1
        path = os.path.join(self.directory, f"{self.prefix}-{os.getpid()}-{self._index:04d}.jsonl")
        self._file = open(path, "a", encoding="utf-8")
        self._file_bytes = 0

    def write(self, record: dict) -> bool:
        line = json.dumps(record, default=_default, ensure_ascii=False, allow_nan=False) + "\n"
        data_len = len(line.encode("utf-8"))
        with self._lock:
            if self.written + data_len > self.max_bytes:
                self.dropped += 1
                if not self._warned:
                    self._warned = True
                    log.warning("Data collection stopped: size cap of %d bytes reached in %s",
                                self.max_bytes, self.directory)
                return False
            if self._file is None or self._file_bytes + data_len > self.rotate_bytes:
                if self._file is not None:
                    self._file.close()
                self._open()
            self._file.write(line)
            self._file.flush()
            self._file_bytes += data_len
            self.written += data_len
            return True

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


_writer: JsonlWriter | None = None


def current_request_id() -> str | None:
    return request_id_var.get()


def _sink() -> JsonlWriter:
    global _writer
    if _writer is None:
        directory = os.environ.get("SCOREHOST_DATA_COLLECTION_DIR", "/tmp/scorehost-data")
        max_bytes = int(os.environ.get("SCOREHOST_DATA_COLLECTION_MAX_BYTES", str(1024 ** 3)))
        _writer = JsonlWriter(os.path.join(directory, "model-data-collector"), "collected", max_bytes)
    return _writer


#: set in a runner by scorehost.telemetry_runner when App Insights model data collection is on:
#: each record is also sent to the front as a ``model_data`` EVENT
event_sink = None


def emit(record: dict) -> None:
    """Write one ModelDataCollector record (with time and request id)."""
    record = {"time": datetime.datetime.now(datetime.timezone.utc).isoformat(),
              "request_id": current_request_id(), **record}
    if event_sink is not None:
        try:
            event_sink(record)
        except Exception as exc:  # noqa: BLE001 -- collect() must never raise into user code
            log.debug("Model data event failed: %s", exc)
    try:
        _sink().write(record)
    except (OSError, ValueError, TypeError) as exc:
        log.warning("Model data collection failed: %s", exc)
