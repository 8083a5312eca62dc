"""A runner process: imports the entry script, calls init() once, then executes run() calls
sent by the HTTP front (``python -m scorehost.runner FD``).

Runners are fresh interpreters started by the front (never forked from it), so a script that
loads TensorFlow, or crashes, or spins in C code, never touches the process that owns the
sockets. A runner executes one call at a time in its main thread (``SCOREHOST_RUNNER_CONCURRENCY``
> 1 uses that many threads). Its lifetime is the front's business: SIGTERM/SIGINT are
ignored (a terminal's Ctrl-C or a process-group kill must not cut a request short); the runner
exits when the front closes the channel, and dies with it (PR_SET_PDEATHSIG) if the front dies.

Scoring timeouts: the front answers the client at the deadline whatever happens here. It then
interrupts the call: for a one-call-at-a-time runner it sends SIGALRM, whose handler raises
:class:`ScoringTimeout` in the running code (the front sends it while it still holds the
runner's only slot, so it can only hit the timed-out call or an idle runner, which ignores it;
no timer is armed per call: measured, two setitimer calls were ~10% of a runner's CPU per echo
request); worker threads (``SCOREHOST_RUNNER_CONCURRENCY`` > 1) get an asynchronous exception
from the runner's watchdog thread. A runner that does not come back within the grace period is killed
(a C extension holding the GIL never sees the exception).
"""
from __future__ import annotations

import ctypes
import heapq
import itertools
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import logs, protocol
from .entry_script import SCHEMA, EntryScript, EntryScriptError, analyse, import_script
from .inputs import InputConversionError, InputError, MethodNotRouted, build_arguments, call_run, install_schema_hooks
from .outputs import JSON_HEADERS, NotSerializable, is_response, response_parts, to_json

log = logging.getLogger("scorehost.runner")

USER_ERROR_MESSAGE = "An unexpected error occurred in scoring script. Check the logs for more info."
MODEL_DIR_LISTING_LIMIT = 200
#: runners run at a lower CPU priority than the front, so that liveness probes and scoring-timeout
#: answers stay prompt while run() code saturates every core (threads started later inherit it)
RUNNER_NICENESS = 5
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class ScoringTimeout(BaseException):
    """Raised inside run() at the scoring deadline. A BaseException, so that a script's
    ``except Exception:`` cannot swallow it (azmlinfsrv raised TimeoutError, which both
    user code could catch and user code's own TimeoutError was mistaken for)."""


def user_traceback(exc: BaseException) -> str:
    """The traceback without scorehost's own frames at its top."""
    tb = exc.__traceback__
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def walk_model_dir(path: str, depth: int = 0):
    name = os.path.basename(os.path.normpath(path))
    indent = "    " * depth
    if os.path.isdir(path):
        yield f"{indent}{name}{os.sep}"
        for child in sorted(os.listdir(path)):
            yield from walk_model_dir(os.path.join(path, child), depth + 1)
    else:
        yield f"{indent}{name}"


class Runner:
    def __init__(self, sock: socket.socket, config: dict[str, Any]):
        self.sock = sock
        self.config = config
        self.reader = protocol.FrameReader(sock)
        self.send_lock = threading.Lock()
        self.script: EntryScript | None = None
        self.debug = bool(config.get("debug"))
        self._alarm_armed = False
        self.telemetry = None  # scorehost.telemetry_runner.RunnerTelemetry when the front asks for it
        self.watchdog = _Watchdog()  # deadlines of calls in worker threads (its thread starts on first use)
        if config.get("telemetry"):
            from .telemetry_runner import RunnerTelemetry
            self.telemetry = RunnerTelemetry(self.send_event, config["telemetry"])

    # ---------------------------------------------------------------- channel
    def send(self, message: tuple) -> None:
        buffers = protocol.frame(message)
        with self.send_lock:
            for buf in buffers:
                self.sock.sendall(buf)

    def send_result(self, result: tuple) -> None:
        """A RESULT (its first seven fields), with the request item the runner's telemetry makes
        for it when the front asks for them (sent from inside the call, so the item has the
        call's trace context)."""
        tel = self.telemetry
        item = tel.request_item(result[2], result[4], result[5], result[6]) if tel is not None else None
        self.send(result + (item,))

    def send_event(self, name: str, payload: dict) -> None:
        try:
            self.send((protocol.EVENT, name, payload))
        except OSError:
            pass

    # ---------------------------------------------------------------- start-up
    def fail(self, stage: str, message: str, exit_code: int = 3) -> None:
        try:
            self.send((protocol.FAILED, {"stage": stage, "message": message, "exit_code": exit_code}))
        except OSError:
            pass
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(exit_code)

    def load(self) -> None:
        cfg = self.config
        try:
            module = import_script(cfg.get("entry_script"), cfg["app_root"])
            self.script = analyse(module)
        except EntryScriptError as exc:
            log.error(exc.message)
            self.fail(exc.stage, exc.message)
        except BaseException as exc:  # the script's own import-time failure, SystemExit included
            text = user_traceback(exc)
            log.error("Failed to import the entry script %s: it raised an unhandled exception.\n%s",
                      cfg.get("entry_script") or "main.py", text)
            self.fail("import", f"importing the entry script raised {type(exc).__name__}: {exc}")
        script = self.script
        if script.driver:
            log.info("Found driver script at %s and the score script at %s", script.path, script.driver)
        else:
            log.info("Found user script at %s", script.path)
        if script.mode == SCHEMA:
            install_schema_hooks()
        log.info({"rawhttp": "run() is decorated with @rawhttp. Server will invoke it with the request object.",
                  "schema": "run() is decorated with @input_schema. Server will invoke it with the following "
                            "arguments: " + ", ".join(p.name for p in script.params) + ".",
                  "text": "run() is not decorated. Server will invoke it with the input in JSON string."}[script.mode])

    def init(self) -> float:
        log.info("Invoking user's init function")
        started = time.perf_counter()
        try:
            self.script.init()
        except BaseException as exc:
            log.error("User's init function failed")
            log.error("Encountered Exception %s", user_traceback(exc))
            model_dir = os.environ.get("AZUREML_MODEL_DIR")
            if model_dir and os.path.exists(model_dir):
                log.info("Model Directory Contents:")
                tree = walk_model_dir(model_dir)
                for line in itertools.islice(tree, MODEL_DIR_LISTING_LIMIT):
                    log.info(line)
                if next(tree, None) is not None:
                    log.info("Output Truncated. First %d lines shown.", MODEL_DIR_LISTING_LIMIT)
            self.send_event("exception", self._annotate({"stage": "init", "type": type(exc).__name__,
                                                         "message": str(exc), "traceback": user_traceback(exc)}))
            self.fail("init", f"init() raised {type(exc).__name__}: {exc}")
        elapsed = (time.perf_counter() - started) * 1000
        log.info("Users's init has completed successfully")
        return elapsed

    def ready_info(self, init_ms: float) -> dict:
        info = self.script.describe()
        info.update(pid=os.getpid(), init_ms=round(init_ms, 3))
        from .schema import describe_schema
        info["schema"] = describe_schema(self.script.run)
        return info

    # ---------------------------------------------------------------- calls
    def _on_alarm(self, signum, frame):
        if self._alarm_armed:
            self._alarm_armed = False
            raise ScoringTimeout()

    def execute(self, seq: int, environ: dict, body: bytes, ctx: dict) -> None:
        """Run one call and send its answer (RESULT, or START/CHUNK.../END)."""
        script = self.script
        timeout_ms = ctx["timeout_ms"]
        token = logs.request_id_var.set(ctx.get("request_id"))
        tel = self.telemetry
        tel_tokens = tel.enter(seq, ctx, environ, body) if tel is not None else None
        spans = tel is not None and tel.internal_spans  # scorehost's own run/serialize spans (OTLP only)
        main_thread = threading.current_thread() is threading.main_thread()
        watchdog = None
        try:
            try:
                kwargs, omitted = build_arguments(script, environ, body)
            except InputError as exc:
                self.send_result(protocol.error_result(seq, exc.status, exc.message, kind="bad_input"))
                return
            except MethodNotRouted:
                self.send_result(self._method_answer(seq, environ))
                return

            started = time.perf_counter()
            try:
                if main_thread:
                    self._alarm_armed = True  # the front sends SIGALRM at the deadline
                else:
                    watchdog = self.watchdog.arm(threading.get_ident(), timeout_ms / 1000.0)
                try:
                    if not spans:
                        output = call_run(script, kwargs, omitted, environ)
                    else:
                        with tel.span("run"):
                            output = call_run(script, kwargs, omitted, environ)
                    if is_response(output):
                        self._send_response(seq, output, started)
                        return
                finally:
                    if main_thread:
                        self._alarm_armed = False
                    elif watchdog is not None:
                        self.watchdog.cancel(watchdog)
            except ScoringTimeout:
                log.error("Scoring timeout after %s ms: run() was interrupted", timeout_ms)
                self.send_result(protocol.error_result(seq, 500, f"Scoring timeout after {timeout_ms} ms",
                                                       run_failed=True, kind="timeout"))
                return
            except InputConversionError as exc:
                log.info("Rejected input: %s", exc)
                self.send_result(protocol.error_result(seq, 400, str(exc), kind="bad_input"))
                return
            except Exception as exc:
                self._user_error(seq, exc, "run() raised an exception")
                return
            fn_ms = (time.perf_counter() - started) * 1000
            try:
                if not spans:
                    payload = to_json(output)
                else:
                    with tel.span("serialize"):
                        payload = to_json(output)
            except NotSerializable as exc:
                log.error("run() returned a value that cannot be serialized to JSON: %s", exc)
                message = (f"run() returned a value of type {type(output).__name__!r} that cannot be converted "
                           "to JSON. Return JSON-compatible data (dict, list, str, numbers), or an AMLResponse.")
                self.send_result(protocol.error_result(seq, 500, message, run_failed=True, kind="serialization_error"))
                return
            self.send_result((protocol.RESULT, seq, 200, JSON_HEADERS, payload, fn_ms, "ok"))
        finally:
            if tel_tokens is not None:
                tel.exit(tel_tokens)
            logs.request_id_var.reset(token)

    def _annotate(self, payload: dict) -> dict:
        if self.telemetry is not None:
            return self.telemetry.annotate(payload)
        payload["request_id"] = logs.request_id_var.get()
        return payload

    def _method_answer(self, seq: int, environ: dict) -> tuple:
        if environ.get("REQUEST_METHOD") == "OPTIONS":
            return (protocol.RESULT, seq, 200, [("Content-Type", "text/html; charset=utf-8"),
                                                ("x-ms-run-function-failed", "False")], b"", None, "ok")
        return protocol.error_result(seq, 405, "Method not allowed", kind="bad_input")

    def _user_error(self, seq: int, exc: BaseException, what: str) -> None:
        text = user_traceback(exc)
        log.error("%s (request id %s):\n%s", what, logs.request_id_var.get(), text)
        self.send_event("exception", self._annotate({"stage": "run", "type": type(exc).__name__,
                                                     "message": str(exc), "traceback": text}))
        if self.debug:
            body = protocol.json_body({"message": USER_ERROR_MESSAGE, "exception": f"{type(exc).__name__}: {exc}",
                                       "traceback": text})
            self.send_result((protocol.RESULT, seq, 500, protocol.error_headers(True), body, None, "user_error"))
        else:
            self.send_result(protocol.error_result(seq, 500, USER_ERROR_MESSAGE, run_failed=True, kind="user_error"))

    def _send_response(self, seq: int, response: Any, started: float) -> None:
        status, headers, body, stream = response_parts(response)
        fn_ms = (time.perf_counter() - started) * 1000
        if stream is None:
            self.send_result((protocol.RESULT, seq, status, headers, body, fn_ms, "ok"))
            return
        self.send((protocol.START, seq, status, headers, fn_ms))
        error = None
        try:
            for chunk in stream:
                if chunk:
                    self.send((protocol.CHUNK, seq, bytes(chunk)))
        except ScoringTimeout:  # the answer has started: end it, the front reports the timeout
            error = "Scoring timeout"
            log.error("Scoring timeout while streaming the response of run() (request id %s)",
                      logs.request_id_var.get())
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.error("The streamed response of run() failed (request id %s):\n%s",
                      logs.request_id_var.get(), user_traceback(exc))
        finally:
            close = getattr(response, "close", None)
            if close is not None:
                close()
        self.send((protocol.END, seq, error))

    # ---------------------------------------------------------------- loop
    def serve(self) -> None:
        concurrency = int(self.config.get("concurrency", 1))
        pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="run") if concurrency > 1 else None
        while True:
            try:
                message = self.reader.read()
            except (protocol.ChannelClosed, OSError):
                break
            kind = message[0]
            if kind == protocol.CALL:
                _, seq, environ, body, ctx = message
                if pool is None:
                    self.execute(seq, environ, body, ctx)
                else:
                    pool.submit(self._execute_guarded, seq, environ, body, ctx)
            elif kind == protocol.STOP:
                break
        if pool is not None:
            pool.shutdown(wait=True)

    def _execute_guarded(self, seq, environ, body, ctx):
        try:
            self.execute(seq, environ, body, ctx)
        except ScoringTimeout:  # delivered after the call finished (a race with cancel)
            pass
        except OSError:
            pass


class _Watchdog:
    """Raises ScoringTimeout in a worker thread at its call's deadline (checked between
    bytecodes), for runners that run several calls at once. One thread keeps every deadline in
    a heap: a ``threading.Timer`` per call started a thread per call (the I/O fixture at 64
    connections spent most of its runner CPU there)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list = []  # (deadline, n, entry); entry = [thread id, armed]
        self._count = itertools.count()
        self._cancelled = 0
        self._thread: threading.Thread | None = None

    def arm(self, thread_id: int, seconds: float) -> list:
        entry = [thread_id, True]
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="scorehost-watchdog", daemon=True)
                self._thread.start()
            heapq.heappush(self._heap, (time.monotonic() + seconds, next(self._count), entry))
            if self._heap[0][2] is entry:
                self._cond.notify()
        return entry

    def cancel(self, entry: list) -> None:
        """After this returns, the call's thread gets no ScoringTimeout from this entry (one
        raised just before is caught by whoever runs the call)."""
        with self._cond:
            if entry[1]:
                entry[1] = False
                self._cancelled += 1
                if self._cancelled > 256 and self._cancelled * 2 > len(self._heap):  # drop the dead weight
                    self._heap = [item for item in self._heap if item[2][1]]
                    heapq.heapify(self._heap)
                    self._cancelled = 0

    def _run(self) -> None:
        with self._cond:
            while True:
                heap = self._heap
                now = time.monotonic()
                while heap and (not heap[0][2][1] or heap[0][0] <= now):
                    _, _, entry = heapq.heappop(heap)
                    if entry[1]:
                        entry[1] = False
                        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(entry[0]),
                                                                   ctypes.py_object(ScoringTimeout))
                    else:
                        self._cancelled = max(0, self._cancelled - 1)
                self._cond.wait(heap[0][0] - now if heap else None)


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    fd = int(argv[0])
    config = json.loads(os.environ.pop("SCOREHOST_RUNNER_CONFIG"))
    _die_with_parent()
    try:  # under CPU contention the front (probes, deadlines, sockets) runs before user code
        os.nice(RUNNER_NICENESS)
    except OSError:
        pass
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)  # handlers (unlike SIG_IGN) are not inherited by exec'd children

    logs.configure(config.get("log_level", "INFO"), config.get("log_format", "text"))
    logs.redirect_print()
    sys.path.append(config["app_root"])
    if config.get("source_dir"):
        sys.path.append(os.path.join(config["app_root"], config["source_dir"]))
    if config.get("entry_script"):
        sys.path.append(os.path.dirname(os.path.join(config["app_root"], config["entry_script"])))
    from . import shims
    shims.install()
    # a logging.json (checked by the CLI), before the script is imported, as in azmlinfsrv
    logs.apply_user_config(config.get("logging_config"), announce=False)

    sock = socket.socket(fileno=fd)
    sock.setblocking(True)  # the front's (gevent) end was non-blocking when the fd was inherited
    runner = Runner(sock, config)
    signal.signal(signal.SIGALRM, runner._on_alarm)
    if config.get("debug_port") and config.get("index") == 0:
        _attach_debugger(int(config["debug_port"]))
    runner.load()
    init_ms = runner.init()
    runner.send((protocol.READY, runner.ready_info(init_ms)))
    runner.serve()
    return 0


def _attach_debugger(port: int) -> None:
    try:
        import debugpy
    except ModuleNotFoundError:
        log.error("AZUREML_DEBUG_PORT is set but debugpy is not installed (pip install debugpy)")
        return
    log.warning("Connecting to a debugger on port %d (AZUREML_DEBUG_PORT; never set it in production)", port)
    debugpy.connect(port)
    debugpy.wait_for_client()


if __name__ == "__main__":
    sys.exit(main())
