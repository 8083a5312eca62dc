"""Log formats shared by the front and the runners, and print() redirection.

Text lines keep azmlinfsrv's format (``2024-01-02 03:04:05,678 I [pid] logger - message``,
UTC), so log queries written for it still match; ``SCOREHOST_LOG_FORMAT=json`` writes one
JSON object per line that also carries the request id of the request being served.
"""
from __future__ import annotations

import builtins
import contextvars
import functools
import json
import logging
import os
import sys
import time
from typing import Callable

#: the request being served in this greenlet/thread (set by the front and by runners)
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("scorehost_request_id", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname).1s [%(process)d] %(name)s - %(message)s"
PRINT_LOGGER = "azmlinfsrv.print"  # azmlinfsrv's name; log queries and the conformance suite rely on it


class TextFormatter(logging.Formatter):
    converter = time.gmtime

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)
        self._second = -1
        self._prefix = ""

    def formatTime(self, record, datefmt=None):  # noqa: N802 - logging's name
        """As logging's default (``2024-01-02 03:04:05,678``, UTC), formatting each second once."""
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))
        return "%s,%03d" % (self._prefix, record.msecs)


class JsonFormatter(logging.Formatter):
    converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "pid": record.process,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or request_id_var.get()
        if rid:
            out["request_id"] = rid
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class AccessLog:
    """The one line per request, written without building a LogRecord.

    Measured on the echo benchmark, ``logging``'s record machinery was ~15% of the front's CPU
    per request; this writes the same line (same format, same stream as logger
    ``scorehost.access``) directly. If the logger was reconfigured (handlers replaced, e.g. by
    a logging.json), lines go through ``logging`` as usual.
    """

    def __init__(self) -> None:
        self.logger = logging.getLogger("scorehost.access")
        self._handler: logging.Handler | None = None
        self._json = False
        self._second = -1
        self._prefix = ""
        self._pid = 0
        self._schedule: Callable[[float, Callable[[], None]], object] | None = None
        self._delay_s = 0.0
        self._pending: list[str] = []

    def defer_flushes(self, schedule: Callable[[float, Callable[[], None]], object], delay_s: float) -> None:
        """Write lines in batches at most ``delay_s`` after they are logged, through
        ``schedule(delay, fn)``, instead of one write system call per request (~3% of the
        front's CPU at one connection; stdout is usually unbuffered in containers). Any other
        record going to the same handler writes the batch first, so lines keep their order."""
        self._schedule = schedule
        self._delay_s = delay_s
        if self._handler is not None:
            self._handler.addFilter(self._before_other_record)

    def bind(self, handler: logging.Handler, json_format: bool) -> None:
        self._handler = handler
        self._json = json_format
        self._pid = os.getpid()
        if self._schedule is not None:
            handler.addFilter(self._before_other_record)

    def __call__(self, message: str, request_id: str | None = None) -> None:
        logger = self.logger
        if not logger.isEnabledFor(logging.INFO):
            return
        handler = self._handler
        if handler is None or self._json or logger.handlers or logger.parent.handlers != [handler]:
            logger.info(message, extra={"request_id": request_id})
            return
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))
            self._pid = os.getpid()
        line = "%s,%03d I [%d] scorehost.access - %s\n" % (self._prefix, int((now - second) * 1000), self._pid, message)
        if self._schedule is None:
            handler.stream.write(line)
            handler.flush()
            return
        pending = self._pending
        pending.append(line)
        if len(pending) == 1:
            self._schedule(self._delay_s, self.flush)

    def flush(self) -> None:
        """Write the lines not written yet."""
        if self._pending and self._handler is not None:
            lines, self._pending = self._pending, []
            self._handler.stream.write("".join(lines))
            self._handler.flush()

    def _before_other_record(self, record: logging.LogRecord) -> bool:
        self.flush()
        return True


access_log = AccessLog()


def configure(level: str = "INFO", fmt: str = "text") -> None:
    """Send scorehost's loggers and azmlinfsrv's (print() lines are ``azmlinfsrv.print``, a child
    of ``azmlinfsrv``, as there) to stdout in the chosen format."""
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    for name in ("scorehost", "azmlinfsrv"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
    printed = logging.getLogger(PRINT_LOGGER)  # its lines go out through "azmlinfsrv" (a logging.json may configure it)
    printed.handlers[:] = []
    printed.setLevel(logging.NOTSET)
    printed.propagate = True
    access_log.bind(handler, fmt == "json")
    logging.getLogger("gunicorn.access").disabled = True


USER_CONFIG = "logging.json"


class LoggingConfigError(Exception):
    """A logging.json that cannot be used; the message names the file and what is wrong."""


def find_user_config(app_root: str, entry_script: str | None) -> str | None:
    """azmlinfsrv's ``logging.json``: in the app root, else in the entry script's folder."""
    folders = [app_root]
    if entry_script:
        folders.append(os.path.dirname(os.path.realpath(os.path.join(app_root, entry_script))))
    for folder in folders:
        path = os.path.join(folder, USER_CONFIG) if folder else ""
        if path and os.path.isfile(path):
            return path
    return None


def apply_user_config(path: str | None, announce: bool = True) -> None:
    """Apply a logging.json (``logging.config.dictConfig``) on top of :func:`configure`, as
    azmlinfsrv does. scorehost's own loggers and the print() logger stay enabled whatever the file
    says about existing loggers (the server's errors and access lines, and the script's print
    output, are not what a file configuring, say, only the root logger means to silence). Classes the file
    names must be importable from installed packages: the front applies it too, and user code
    (the app root) is never imported there."""
    if not path:
        return
    import logging.config

    from . import shims
    shims.install()  # azmlinfsrv's own logging.json names azureml_inference_server_http.log_config classes
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except json.JSONDecodeError as exc:
        raise LoggingConfigError(f"Logging configuration {path} is not valid JSON: {exc.msg} at line {exc.lineno}, "
                                 f"column {exc.colno}.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LoggingConfigError(f"Cannot read the logging configuration {path}: {exc}") from None
    if not isinstance(config, dict):
        raise LoggingConfigError(f"Logging configuration {path} must be a JSON object (a logging.config.dictConfig "
                                 f"dictionary with \"version\": 1), not {type(config).__name__}.")
    try:
        logging.config.dictConfig(config)
    except (ValueError, TypeError, AttributeError, ImportError) as exc:
        cause = f": {exc.__cause__}" if exc.__cause__ is not None else ""
        raise LoggingConfigError(f"Logging configuration {path} cannot be applied: {exc}{cause}. Expected a "
                                 "logging.config.dictConfig dictionary whose classes can be imported.") from None
    for name in list(logging.root.manager.loggerDict):  # a file that configures only the root logger
        if name in ("scorehost", "azmlinfsrv", PRINT_LOGGER) or name.startswith("scorehost."):  # must not mute these
            logging.getLogger(name).disabled = False
    if announce:
        logging.getLogger("azmlinfsrv").info("Loaded logging config from %s", path)


def redirect_print() -> None:
    """print() to stdout becomes an INFO line of logger ``azmlinfsrv.print`` (as in azmlinfsrv);
    print(file=...) to anything else, and sys.stdout.write(), are untouched."""
    original = builtins.print
    if getattr(original, "__scorehost_redirect__", False):
        return
    logger = logging.getLogger(PRINT_LOGGER)

    @functools.wraps(original)
    def print_to_log(*objects, sep=" ", end="\n", file=None, flush=False):
        if file is None or file is sys.stdout:
            logger.info((sep if sep is not None else " ").join(map(str, objects)))
        else:
            original(*objects, sep=sep, end=end, file=file, flush=flush)

    print_to_log.__scorehost_redirect__ = True  # type: ignore[attr-defined]
    builtins.print = print_to_log
