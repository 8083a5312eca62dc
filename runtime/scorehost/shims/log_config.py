"""``azureml_inference_server_http.log_config`` (azmlinfsrv 1.5.1), for logging.json files that
name its formatter and filter: azmlinfsrv's default logging.json uses both."""
from __future__ import annotations

import logging
import time


class RootAccessFilter(logging.Filter):
    """Drops access-log records of health probes to ``GET /``."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "GET / HTTP/1.1" not in record.getMessage()


class AMLLogFormatter(logging.Formatter):
    """azmlinfsrv's line format, with UTC times."""

    def __init__(self, fmt: str = "%(asctime)s %(levelname).1s [%(process)d] %(name)s - %(message)s",
                 datefmt: str | None = None, style: str = "%"):
        super().__init__(fmt=fmt, datefmt=datefmt, style=style)
        self.converter = time.gmtime
