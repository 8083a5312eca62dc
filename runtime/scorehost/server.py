"""gunicorn embedding: the only module that imports gunicorn.

One gunicorn arbiter (the ``scorehost serve`` process, PID 1 in a container) runs one gevent
front worker. The worker builds the Flask app and the :class:`Dispatcher`, which starts the
runner processes once the worker is up (``post_worker_init``) and stops them when it exits.

Exit status: a configuration or entry-script error makes the worker exit 3, which gunicorn's
arbiter treats as a boot error: it stops instead of restarting the worker (no restart loop),
and exits 3 itself.
"""
from __future__ import annotations

import contextvars
import logging
import os
import sys
from typing import Any

import gevent
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger
from gunicorn.workers.ggevent import GeventWorker

from . import logs
from .deadlines import deadline
from .settings import Settings

log = logging.getLogger("scorehost")
_gunicorn_request: contextvars.ContextVar[Any] = contextvars.ContextVar("scorehost_gunicorn_request", default=None)


def close_connection() -> None:
    """Close the client connection after the current response (gunicorn keeps it otherwise)."""
    req = _gunicorn_request.get()
    if req is not None:
        req.must_close = True


class FrontWorker(GeventWorker):
    """gunicorn's gevent worker, plus: readiness turns 503 as soon as SIGTERM arrives."""

    dispatcher = None

    def timeout_ctx(self):
        # gunicorn's keep-alive wait for the next request, on a bare loop timer (see scorehost.deadlines)
        keepalive = self.cfg.keepalive
        return deadline(keepalive, silent=True) if keepalive else super().timeout_ctx()

    def handle_exit(self, sig, frame):
        if self.dispatcher is not None:
            self.dispatcher.draining = True
        super().handle_exit(sig, frame)

    def handle_error(self, req, client, addr, exc):
        # an over-long request line is 414 (gunicorn < 27 answered 400)
        from gunicorn import util
        from gunicorn.http.errors import LimitRequestLine
        if isinstance(exc, LimitRequestLine):
            self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
            try:
                util.write_error(client, 414, "URI Too Long", str(exc))
            except Exception:  # the client is gone
                pass
            return
        super().handle_error(req, client, addr, exc)


class ScorehostLogger(Logger):
    """gunicorn's own messages in scorehost's log format."""

    def setup(self, cfg):
        super().setup(cfg)
        formatter = logs.JsonFormatter() if cfg.env.get("SCOREHOST_LOG_FORMAT") == "json" else logs.TextFormatter()
        for handler in self.error_log.handlers:
            handler.setFormatter(formatter)


class FrontApplication(BaseApplication):
    def __init__(self, settings: Settings, runner_env: dict[str, str], runner_config: dict[str, Any]):
        self.settings = settings
        self.runner_env = runner_env
        self.runner_config = runner_config
        super().__init__()

    def load_config(self) -> None:
        s = self.settings
        # Imported here, in the arbiter, before the worker's gevent monkey-patching: metric values
        # then use plain C locks rather than gevent's Python-level ones (the front worker is one OS
        # thread, so they are never contended; the lock was ~2% of the front's CPU per request).
        # Also with metrics off, though the front then never uses it: measured on the echo
        # benchmark (normal install, 3 runs at 8 connections), fronts whose arbiter had not
        # imported it served 0.72-0.89x the requests of identical ones whose arbiter had
        # (0.98-1.09x); importing the standard-library modules it pulls in did not do that. Why
        # is not known (see docs/telemetry.md, Cost); the import costs the arbiter ~0.1-0.2 s once.
        import prometheus_client.values  # noqa: F401

        binds = [f"{s.host}:{s.port}"]
        if s.health_listener:
            binds.append(f"{s.host}:{s.health_port}")
        options = {
            "bind": binds,
            "workers": 1,
            "worker_class": FrontWorker,
            "worker_connections": 2000,
            # the front never blocks on user code, so its heartbeat is always on time
            "timeout": 60,
            "graceful_timeout": s.graceful_timeout_s,
            "keepalive": s.keepalive_s,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": s.log_level.lower(),
            "logger_class": ScorehostLogger,
            "proc_name": "scorehost",
            "control_socket_disable": True,  # gunicorn 24+ control socket: nothing of ours uses it
            # Trust X-Forwarded-Proto & co. from any peer (the front sits behind whatever proxy the
            # platform puts there; only wsgi.url_scheme depends on it), but let no peer rewrite
            # SCRIPT_NAME/PATH_INFO. With an allow-list gunicorn parses the peer's IP address on
            # every request: measured at ~8% of the front's CPU per request on the echo benchmark.
            "forwarded_allow_ips": "*",
            "forwarder_headers": "",
            "raw_env": [f"SCOREHOST_LOG_FORMAT={s.log_format}"],
            "post_worker_init": self._post_worker_init,
            "pre_request": _pre_request,
            "worker_exit": self._worker_exit,
        }
        for key, value in options.items():
            if key in self.cfg.settings:  # control_socket_disable exists from gunicorn 24 on
                self.cfg.set(key, value)

    def load(self):
        from .app import FrontApp
        from .dispatcher import Dispatcher
        from .telemetry import build_telemetry

        logs.configure(self.settings.log_level, self.settings.log_format)
        logs.apply_user_config(self.runner_config.get("logging_config"), announce=False)  # checked by the CLI
        telemetry = build_telemetry(self.settings)
        _telemetry[0] = telemetry
        runner_telemetry = telemetry.runner_config()
        if runner_telemetry:
            self.runner_config = dict(self.runner_config, telemetry=runner_telemetry)
        dispatcher = Dispatcher(self.settings, runner_env=self.runner_env, runner_config=self.runner_config,
                                on_fatal=_exit_now, observer=telemetry.observer)
        FrontWorker.dispatcher = dispatcher
        return FrontApp(self.settings, dispatcher, close_connection=close_connection, hooks=telemetry.hooks,
                        metrics=telemetry.metrics if self.settings.metrics_enabled else None)

    def _post_worker_init(self, worker) -> None:
        _tune_gunicorn()
        _freeze_config(worker.cfg)
        logs.access_log.defer_flushes(gevent.spawn_later, 0.1)
        worker.dispatcher = FrontWorker.dispatcher
        worker.dispatcher.start()

    def _worker_exit(self, arbiter, worker) -> None:
        dispatcher = getattr(worker, "dispatcher", None)
        if dispatcher is not None and not dispatcher.failed:
            dispatcher.shutdown(timeout=max(5.0, self.settings.timeout_grace_ms / 1000.0))
        if _telemetry[0] is not None:
            _telemetry[0].shutdown(timeout_s=10.0)  # send what is buffered (App Insights, OTLP)
        logs.access_log.flush()


_telemetry: list = [None]  # the front's scorehost.telemetry.Telemetry, flushed at exit


def _tune_gunicorn() -> None:
    """Per-response costs of gunicorn that the front does not need to pay, measured on the
    echo benchmark (front CPU per request, py-spy): the Date header is formatted with
    email.utils for every response (~3%), though it changes once a second; every write goes
    through gevent's ``sendall``, which asks the kernel for the socket buffer size each time
    (~5% for the header and body writes), though a response head or small body fits in one
    ``send``; the head and body of a small answer go out in two sends instead of one; and the
    constant part of the WSGI environ (with a ``wsgi.errors`` wrapper that looks up loggers
    under a lock) is rebuilt per request (~3%). Everything keeps its meaning; only the work
    is cached, skipped or merged."""
    import time

    from gunicorn import util
    from gunicorn.http import wsgi

    from .protocol import sendall

    original_date = util.http_date
    cache = [-1, ""]

    def http_date(timestamp=None):
        if timestamp is not None:
            return original_date(timestamp)
        second = int(time.time())
        if second != cache[0]:
            cache[0], cache[1] = second, original_date(second)
        return cache[1]

    original_write = util.write

    def write(sock, data, chunked=False):
        if chunked:
            return original_write(sock, data, chunked)
        sendall(sock, data)

    original_base_environ = wsgi.base_environ
    base: list = [None, None]  # (cfg, its base environ): the same for every request

    def base_environ(cfg):
        if base[0] is not cfg:
            base[:] = [cfg, original_base_environ(cfg)]
        return base[1].copy()

    util.http_date = http_date
    util.write = write
    wsgi.base_environ = base_environ
    wsgi.Response = _one_write_response_class()  # the class wsgi.create() instantiates for HTTP/1.x


def _freeze_config(cfg) -> None:
    """Make the worker's setting lookups plain attribute reads. gunicorn resolves each
    ``cfg.<name>`` through ``Config.__getattr__`` and the setting object, a dozen times per
    request (~3% of the front's CPU at one connection). A worker's settings never change after
    it started (a reload starts new workers from the arbiter's configuration, which is left
    as it is); ``Config``'s properties still compute from the settings."""
    cfg.__dict__.update({name: setting.get() for name, setting in cfg.settings.items()})


def _one_write_response_class():
    from gunicorn import util
    from gunicorn.http import wsgi

    from .protocol import sendall

    value_ok = wsgi.HEADER_VALUE_RE.fullmatch
    plain_names: set[str] = set()  # names gunicorn accepted that need no special handling

    class OneWriteResponse(wsgi.Response):
        """gunicorn's response, sending the head and a small whole body in one ``send``
        (gunicorn sends them separately: one system call more per /score answer, ~5% of the
        front's CPU on the echo benchmark). Anything else -- streams, chunked, HEAD, bodies
        without a matching Content-Length -- takes gunicorn's own path.

        Header checks: gunicorn validates each header's name (token syntax, hop-by-hop,
        Content-Length) and value on every response (~2% of the front's CPU at one connection,
        for the same eight names). A name it accepted as an ordinary header is remembered, so
        only the value is checked again; anything else goes through gunicorn's own check."""

        def process_headers(self, headers):
            append = self.headers.append
            for name, value in headers:
                if name in plain_names and type(value) is str and value_ok(value):
                    append((name, value.strip(" \t")))
                    continue
                if name == "Content-Length" and type(value) is str and value.isascii() and value.isdigit():
                    self.response_length = int(value)  # what gunicorn does with a valid one
                    append((name, value))
                    continue
                super().process_headers(((name, value),))  # checks (or raises) and records it
                if len(plain_names) < 1024 and name.lower() != "content-length" and not util.is_hoppish(name):
                    plain_names.add(name)

        def write(self, arg):
            if (not self.headers_sent and type(arg) is bytes and 0 < len(arg) <= 65536
                    and len(arg) == self.response_length and not self.chunked and self.req.method != "HEAD"
                    and not getattr(self, "_omits_body", False)):
                lines = self.default_headers()
                lines.extend(["%s: %s\r\n" % (k, v) for k, v in self.headers])
                self.headers_sent = True
                self.sent = len(arg)
                sendall(self.sock, ("%s\r\n" % "".join(lines)).encode("latin-1") + arg)
                return
            super().write(arg)

    return OneWriteResponse


def _pre_request(worker, req) -> None:
    _gunicorn_request.set(req)


def _exit_now(code: int) -> None:
    """Stop the front worker with ``code``; gunicorn's arbiter then exits with it (3 = boot error)."""
    if _telemetry[0] is not None:  # e.g. the exception init() raised: send it before exiting
        try:
            _telemetry[0].shutdown(timeout_s=10.0)
        except Exception as exc:  # noqa: BLE001 -- exiting anyway
            log.debug("telemetry flush at exit failed: %s", exc)
    logs.access_log.flush()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def serve(settings: Settings, runner_env: dict[str, str], runner_config: dict[str, Any]) -> int:
    FrontApplication(settings, runner_env, runner_config).run()
    return 0
