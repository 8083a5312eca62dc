"""Server-side capture of /score inputs and outputs (``SCOREHOST_DATA_COLLECTION``).

``jsonl``: one JSON object per captured request, appended to rotated files
``<SCOREHOST_DATA_COLLECTION_DIR>/server-capture/captured-<pid>-<n>.jsonl`` by
:class:`scorehost.datacollection.JsonlWriter`; writing stops at
``SCOREHOST_DATA_COLLECTION_MAX_BYTES`` (total written). ``appinsights``: the same record as
an App Insights ``model_data_collection`` trace (needs App Insights on).

Which requests: successful (status < 400), non-streamed /score answers, sampled by request id
(``crc32(request_id) / 2**32 < SCOREHOST_DATA_COLLECTION_SAMPLE_RATE``), so whether a request
is captured is a pure function of its id. Record fields: ``time``, ``request_id``,
``client_request_id``, ``status``, ``duration_ms``, ``input`` (the body as JSON when it
parses, else as text), ``output`` (likewise).
"""
from __future__ import annotations

import datetime
import json
import logging
import os

from .datacollection import JsonlWriter
from .settings import Settings
from .telemetry_context import sampled

log = logging.getLogger("scorehost.datacollection")


def _decode(data: bytes):
    text = data.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


class ServerCapture:
    def __init__(self, settings: Settings, *, exporters=None, metrics=None):
        self.mode = settings.data_collection
        self.rate = settings.data_collection_sample_rate
        self.exporters = exporters
        self.written = self.skipped = 0
        self.writer = None
        if self.mode == "jsonl":
            self.writer = JsonlWriter(os.path.join(settings.data_collection_dir, "server-capture"), "captured",
                                      settings.data_collection_max_bytes)
            log.info("Data collection: capturing %.0f%% of /score requests to %s (cap %d bytes)",
                     self.rate * 100, self.writer.directory, settings.data_collection_max_bytes)
        elif exporters is None or not exporters.appinsights:
            log.warning("SCOREHOST_DATA_COLLECTION=appinsights needs Application Insights "
                        "(AML_APP_INSIGHTS_ENABLED + AML_APP_INSIGHTS_KEY, or APPLICATIONINSIGHTS_CONNECTION_STRING); "
                        "nothing will be captured")
            self.mode = "off"

    def counts(self) -> dict:
        dropped = self.writer.dropped if self.writer is not None else 0
        return {"written": self.written, "skipped": self.skipped, "dropped": dropped}

    def request_done(self, route: str, status: int, duration_ms: float, request_id: str, client_request_id: str,
                     trace: tuple | None, answer) -> None:
        if self.mode == "off" or route != "/score" or status >= 400:
            return
        if answer.is_streamed:
            return
        if not sampled(request_id, self.rate):
            self.skipped += 1
            return
        body = answer.request_body or b""
        output = answer.body
        if self.mode == "jsonl":
            record = {"time": datetime.datetime.now(datetime.timezone.utc).isoformat(), "request_id": request_id,
                      "client_request_id": client_request_id, "status": status,
                      "duration_ms": round(duration_ms, 3), "input": _decode(body), "output": _decode(output)}
            try:
                if self.writer.write(record):
                    self.written += 1
            except (OSError, ValueError, TypeError) as exc:
                log.warning("Data collection failed: %s", exc)
        else:
            self.exporters.add(("md", request_id, client_request_id, body.decode("utf-8", "replace"),
                                output.decode("utf-8", "replace"), trace[:2] if trace else None, None))
            self.written += 1
