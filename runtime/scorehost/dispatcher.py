"""The front's side of the runners: starting and supervising them, queueing requests in
front of them, deadlines, and what happens when one dies.

Server layer (runs inside the gevent-patched front worker).

Who supervises runners, and why here: the front worker is the only process that knows which
request each runner is executing. Owning the runners lets it fail exactly the request whose
runner died (it sees the channel close at once), answer a scoring timeout at the deadline and
kill the stuck runner without asking anyone, and keep probes truthful from its own state.
gunicorn's arbiter (PID 1 in a container) supervises the front worker in turn; if the front
dies its runners die with it (PR_SET_PDEATHSIG, and EOF on their channel). Runners are started
with ``subprocess`` (fork+exec of a fresh interpreter), never by forking the front.

Requests wait in one bounded FIFO (``SCOREHOST_MAX_QUEUE`` waiters, each at most
``SCOREHOST_MAX_QUEUE_WAIT_MS``) for a free runner slot; a runner offers
``SCOREHOST_RUNNER_CONCURRENCY`` slots. Beyond the bounds a request is refused at once.
"""
from __future__ import annotations

import collections
import itertools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any, Callable

import gevent
import gevent.event
import gevent.lock
from gevent.hub import Waiter

from . import protocol
from .deadlines import WaitTimeout, wait
from .settings import Settings

log = logging.getLogger("scorehost.dispatcher")

STARTING, READY, RETIRING, DEAD = "starting", "ready", "retiring", "dead"
#: a runner dying within this many seconds of becoming ready counts towards the respawn backoff
QUICK_DEATH_S = 10
BACKOFF_MAX_S = 10.0
_RUNNER_CMD = "import sys; from scorehost.runner import main; sys.exit(main())"


class Unavailable(Exception):
    """No runner slot for this request; ``status``/``message``/``retry_after`` form the answer."""

    def __init__(self, message: str, *, retry_after: int | None = 1, status: int = 503):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.status = status


def describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "stopped answering"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        hint = {"SIGKILL": " (perhaps out of memory?)", "SIGSEGV": " (segmentation fault)",
                "SIGABRT": " (aborted)", "SIGBUS": " (bus error)", "SIGILL": " (illegal instruction)"}.get(name, "")
        return f"was killed by {name}{hint}"
    return f"exited with status {returncode}"


class Observer:
    """Hooks for telemetry; the default does nothing."""

    def runner_state(self, dispatcher: "Dispatcher") -> None: ...
    def runner_restarted(self, reason: str) -> None: ...
    def scoring_timeout(self) -> None: ...
    def runner_event(self, name: str, payload: dict) -> None: ...


def _in_hub(function: Callable, *args) -> None:
    """Run ``function(*args)`` in gevent's hub: now if this is the hub, else as its next callback."""
    hub = gevent.get_hub()
    if gevent.getcurrent() is hub:
        function(*args)
    else:
        hub.loop.run_callback(function, *args)


class Call:
    """One run() call in flight. The runner's messages for it are delivered from the hub, where
    the channel is read: straight to the request's greenlet if it is waiting (no queue and no
    extra greenlet switch on the hot path), else kept until it asks."""

    __slots__ = ("seq", "runner", "pending", "waiter", "finished", "abandoned", "sent_at")

    def __init__(self, seq: int, runner: "RunnerHandle"):
        self.seq = seq
        self.runner = runner
        self.pending: collections.deque | None = None
        self.waiter: Waiter | None = None
        self.finished = False
        self.abandoned = False
        self.sent_at = 0.0

    def deliver(self, message: tuple) -> None:
        """Hand one message to the request (runs in the hub)."""
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            waiter.switch(message)
        elif self.pending is None:
            self.pending = collections.deque((message,))
        else:
            self.pending.append(message)

    def get(self, timeout: float) -> tuple:
        """The next message; WaitTimeout after ``timeout`` seconds."""
        if self.pending:
            return self.pending.popleft()
        waiter = self.waiter = Waiter()
        try:
            return wait(waiter, timeout)
        finally:
            self.waiter = None


class Slots:
    """Free runner slots, handed out first come, first served. A released slot goes straight to
    the longest-waiting request, so a request arriving at that moment cannot take it first
    (with gevent's Queue it could, and some requests waited many rounds: p99 115 ms at 8
    connections on one runner)."""

    def __init__(self) -> None:
        self.free: collections.deque[RunnerHandle] = collections.deque()
        self.waiters: collections.deque[Waiter] = collections.deque()

    def put(self, runner: "RunnerHandle") -> None:
        _in_hub(self._put, runner)

    def _put(self, runner: "RunnerHandle") -> None:
        if runner.state != READY:
            return
        if self.waiters:
            self.waiters.popleft().switch(runner)
        else:
            self.free.append(runner)

    def get_nowait(self) -> "RunnerHandle | None":
        if self.waiters:  # others were first
            return None
        free = self.free
        while free:
            runner = free.popleft()
            if runner.state == READY:
                return runner
        return None

    def get(self, timeout: float) -> "RunnerHandle":
        """Wait in line for a slot; WaitTimeout after ``timeout`` seconds."""
        waiter = Waiter()
        self.waiters.append(waiter)
        try:
            return wait(waiter, timeout)
        finally:
            try:
                self.waiters.remove(waiter)
            except ValueError:
                pass  # already handed a slot


class RunnerHandle:
    """The front's view of one runner process."""

    def __init__(self, dispatcher: "Dispatcher", index: int):
        self.dispatcher = dispatcher
        self.index = index
        self.state = STARTING
        self.calls: dict[int, Call] = {}
        self.served = 0
        self.info: dict = {}
        self.ready_at: float | None = None
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.exit_reason: str | None = None
        # several greenlets send to one runner when it offers several slots; a frame must
        # go out whole (gevent also refuses two greenlets waiting to write one socket)
        self.send_lock = gevent.lock.Semaphore()
        self.frames = protocol.FrameBuffer()
        self.watcher = None  # gevent io watcher: the hub reads the channel when it is readable

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def name(self) -> str:
        return f"runner {self.index} (pid {self.pid})"

    def spawn(self, env: dict[str, str], config: dict[str, Any]) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = dict(env)
        env["SCOREHOST_RUNNER_CONFIG"] = json.dumps(dict(config, index=self.index))
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _RUNNER_CMD, str(child.fileno())],
                pass_fds=(child.fileno(),), env=env, stdin=subprocess.DEVNULL, close_fds=True)
        finally:
            child.close()
        self.sock = parent
        log.info("Started %s", self.name())

    def send(self, message: tuple) -> None:
        with self.send_lock:
            protocol.send(self.sock, message)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.kill()
            except OSError:
                pass

    def close_channel(self) -> None:
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Dispatcher:
    def __init__(self, settings: Settings, *, runner_env: dict[str, str], runner_config: dict[str, Any],
                 on_fatal: Callable[[int], None], observer: Observer | None = None):
        self.settings = settings
        self.runner_env = runner_env
        self.runner_config = runner_config
        self.on_fatal = on_fatal
        self.observer = observer or Observer()
        self.runners: list[RunnerHandle] = []
        self.slots = Slots()
        self.waiting = 0
        self.ready_event = gevent.event.Event()
        self.first_ready_info: dict | None = None
        self.draining = False
        self.stopping = False
        self.failed = False
        self.restarts = 0
        self._init_crashes = [0] * settings.worker_count
        self._quick_deaths = [0] * settings.worker_count  # deaths soon after ready, for backoff
        self._seq = itertools.count(1)
        self.slots_per_runner = settings.runner_concurrency

    # ------------------------------------------------------------------ state
    @property
    def ready(self) -> bool:
        return not self.failed and any(r.state == READY for r in self.runners)

    def status(self) -> str:
        if self.failed:
            return "failed"
        if self.draining:
            return "draining"
        if self.ready:
            return "ready"
        return "starting" if self.first_ready_info is None else "recovering"

    def snapshot(self) -> dict:
        return {
            "status": self.status(),
            "runners": [{"index": r.index, "pid": r.pid, "state": r.state, "inflight": len(r.calls),
                         "served": r.served} for r in self.runners],
            "queue": {"waiting": self.waiting, "max": self.settings.max_queue},
            "restarts": self.restarts,
        }

    # ------------------------------------------------------------------ runners
    def start(self) -> None:
        for index in range(self.settings.worker_count):
            self._start_runner(index)

    def _start_runner(self, index: int) -> RunnerHandle | None:
        if self.stopping:  # a delayed respawn firing after shutdown began
            return None
        runner = RunnerHandle(self, index)
        self.runners.append(runner)
        try:
            runner.spawn(self.runner_env, self.runner_config)
        except OSError as exc:
            log.critical("Cannot start a runner process: %s", exc)
            self._fatal(3)
            return runner
        self._start_reading(runner)
        gevent.spawn(self._init_deadline, runner)
        self.observer.runner_state(self)
        return runner

    def _init_deadline(self, runner: RunnerHandle) -> None:
        gevent.sleep(self.settings.worker_timeout_s)
        if runner.state == STARTING:
            log.error("%s did not finish importing the script and init() within WORKER_TIMEOUT=%d s; killing it",
                      runner.name(), self.settings.worker_timeout_s)
            runner.exit_reason = f"did not finish init() within {self.settings.worker_timeout_s} s"
            runner.kill()

    def _start_reading(self, runner: RunnerHandle) -> None:
        """Read the runner's channel from the hub whenever it is readable. Call messages are
        delivered from there straight to the waiting request; no reader greenlet sits between
        (each hop through one cost a switch, a queue and a failed read per request)."""
        os.set_blocking(runner.sock.fileno(), False)
        runner.watcher = gevent.get_hub().loop.io(runner.sock.fileno(), 1)
        runner.watcher.start(self._on_readable, runner)

    def _stop_reading(self, runner: RunnerHandle) -> None:
        if runner.watcher is not None:
            runner.watcher.stop()
            runner.watcher.close()
            runner.watcher = None

    def _on_readable(self, runner: RunnerHandle) -> None:
        # Runs in the hub: nothing here may block (anything that might is spawned).
        try:
            open_ = runner.frames.read_from(runner.sock.fileno())
        except BlockingIOError:
            return
        except OSError:
            open_ = False
        try:
            messages = runner.frames.messages()
        except Exception as exc:  # noqa: BLE001 -- a corrupt frame: treat the runner as lost
            log.error("Unreadable message from %s: %r", runner.name(), exc)
            messages, open_ = [], False
        for message in messages:
            if runner.watcher is None:
                return
            try:
                self._on_message(runner, message)
            except Exception:  # noqa: BLE001 -- a bug here must not stop the channel (or the hub)
                log.exception("Error while handling a message from %s", runner.name())
        if not open_ and runner.watcher is not None:
            self._stop_reading(runner)
            gevent.spawn(self._on_exit, runner)

    def _on_message(self, runner: RunnerHandle, message: tuple) -> None:
        """One message from a runner (in the hub)."""
        kind = message[0]
        if kind == protocol.RESULT or kind == protocol.END:
            call = runner.calls.pop(message[1], None)
            self._release(runner)  # first, so the next request reaches the runner sooner
            if call is not None:
                call.finished = True
                call.deliver(message)
        elif kind == protocol.START or kind == protocol.CHUNK:
            call = runner.calls.get(message[1])
            if call is not None and not call.abandoned:
                call.deliver(message)
        elif kind == protocol.EVENT:
            self.observer.runner_event(message[1], message[2])
        elif kind == protocol.READY:
            self._on_ready(runner, message[1])
        elif kind == protocol.FAILED:
            self._stop_reading(runner)
            gevent.spawn(self._on_failed, runner, message[1])

    def _on_ready(self, runner: RunnerHandle, info: dict) -> None:
        runner.info = info
        runner.state = READY
        runner.ready_at = time.monotonic()
        self._init_crashes[runner.index] = 0
        log.info("%s is ready (init() took %.0f ms)", runner.name(), info.get("init_ms", 0.0))
        if self.first_ready_info is None:
            self.first_ready_info = info
        for _ in range(self.slots_per_runner):
            self.slots.put(runner)
        # a recycled runner's predecessor stops taking work now that its replacement is up
        for other in self.runners:
            if other is not runner and other.state == RETIRING and other.index == runner.index and not other.calls:
                other.close_channel()
        self.ready_event.set()
        self.observer.runner_state(self)

    def _on_failed(self, runner: RunnerHandle, info: dict) -> None:
        runner.state = DEAD
        if self.stopping:
            return
        log.critical("The entry script cannot be served (%s failed in %s): %s. Stopping the server.",
                     info.get("stage"), runner.name(), info.get("message"))
        self._fatal(int(info.get("exit_code", 3)))

    def _on_exit(self, runner: RunnerHandle) -> None:
        was = runner.state
        runner.state = DEAD
        returncode = None
        if runner.proc is not None:
            try:
                returncode = runner.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                runner.kill()
                returncode = runner.proc.wait()
        reason = runner.exit_reason or describe_exit(returncode)
        if runner.sock is not None:
            runner.sock.close()
        calls, runner.calls = runner.calls, {}
        for call in calls.values():
            call.finished = True
            _in_hub(call.deliver, ("died", reason))
        if runner in self.runners:
            self.runners.remove(runner)
        self.observer.runner_state(self)
        if self.stopping or self.failed:
            return
        if was == RETIRING and returncode == 0:
            log.info("%s retired after %d requests", runner.name(), runner.served)
            return
        if was == STARTING:
            self._init_crashes[runner.index] += 1
            crashes = self._init_crashes[runner.index]
            log.error("%s %s during start-up (%d of %d allowed)", runner.name(), reason, crashes,
                      self.settings.max_init_crashes)
            if crashes >= self.settings.max_init_crashes:
                log.critical("Runner %d failed to start %d times in a row; stopping the server",
                             runner.index, crashes)
                self._fatal(3)
                return
        else:
            lost = len(calls)
            log.error("%s %s%s; starting a replacement", runner.name(), reason,
                      f", failing the {lost} request(s) it was running" if lost else "")
        self.restarts += 1
        self.observer.runner_restarted(reason)
        if was != RETIRING or not any(r.index == runner.index and r.state != DEAD for r in self.runners):
            self._respawn(runner)

    def _respawn(self, runner: RunnerHandle) -> None:
        """Start a replacement at once, unless the runner keeps dying soon after becoming ready:
        then back off (0.5 s, 1 s, 2 s ... at most 10 s) instead of re-running init() in a hot loop."""
        index = runner.index
        if runner.ready_at is not None:  # (a death during start-up neither counts nor resets)
            if time.monotonic() - runner.ready_at < QUICK_DEATH_S:
                self._quick_deaths[index] += 1
            else:
                self._quick_deaths[index] = 0
        quick = self._quick_deaths[index]
        if quick < 2:
            self._start_runner(index)
            return
        delay = min(BACKOFF_MAX_S, 0.5 * 2 ** (quick - 2))
        log.warning("Runner %d died %d times within %d s of becoming ready; restarting it in %.1f s",
                    index, quick, QUICK_DEATH_S, delay)
        gevent.spawn_later(delay, self._start_runner, index)

    def _release(self, runner: RunnerHandle) -> None:
        runner.served += 1
        limit = self.settings.max_requests_per_runner
        if runner.state == READY and limit and runner.served >= limit:
            log.info("%s served %d requests (SCOREHOST_MAX_REQUESTS_PER_RUNNER); replacing it", runner.name(),
                     runner.served)
            runner.state = RETIRING
            gevent.spawn(self._start_runner, runner.index)
        if runner.state == READY:
            self.slots.put(runner)
        elif runner.state == RETIRING and not runner.calls and self._has_ready_successor(runner):
            runner.close_channel()

    def _has_ready_successor(self, runner: RunnerHandle) -> bool:
        return any(r is not runner and r.index == runner.index and r.state == READY for r in self.runners)

    def _fatal(self, code: int) -> None:
        if self.failed:
            return
        self.failed = True
        self.stopping = True
        for r in list(self.runners):
            r.kill()
        self.on_fatal(code)

    # ------------------------------------------------------------------ requests
    def acquire(self) -> RunnerHandle:
        """A runner slot for one call, waiting in the bounded queue if needed."""
        if self.failed or self.stopping:
            raise Unavailable("The server is shutting down.")
        runner = self.slots.get_nowait()
        if runner is not None:
            return runner
        if self.waiting >= self.settings.max_queue:
            raise Unavailable(f"All runners are busy and {self.waiting} requests are already waiting "
                              f"(SCOREHOST_MAX_QUEUE={self.settings.max_queue}). Retry later.")
        max_wait = self.settings.max_queue_wait_ms / 1000.0
        deadline = time.monotonic() + max_wait
        self.waiting += 1
        try:
            while True:  # a slot handed over is READY; one that stopped meanwhile is skipped
                runner = self.slots.get(deadline - time.monotonic())
                if runner.state == READY:
                    return runner
        except WaitTimeout:
            if self.first_ready_info is None:
                raise Unavailable("The model is still loading (init() has not finished). Retry later.",
                                  retry_after=max(1, int(max_wait))) from None
            raise Unavailable(f"No runner became free within {self.settings.max_queue_wait_ms} ms "
                              "(SCOREHOST_MAX_QUEUE_WAIT_MS). Retry later.") from None
        finally:
            self.waiting -= 1

    def submit(self, environ: dict, body: bytes, ctx: dict, stamp_sent: bool = False) -> Call:
        """Send one call to a runner (waiting for a slot). ``call.sent_at`` is when it was sent
        (``time.perf_counter``); with ``stamp_sent`` the CALL ctx carries it too (``sent_at``)."""
        runner = self.acquire()
        call = Call(next(self._seq), runner)
        runner.calls[call.seq] = call
        call.sent_at = time.perf_counter()
        if stamp_sent:
            ctx["sent_at"] = call.sent_at
        try:
            runner.send((protocol.CALL, call.seq, environ, body, ctx))
        except OSError:
            pass  # the read loop sees the runner die and fails this call
        return call

    def on_timeout(self, call: Call) -> None:
        """The client got its timeout answer: interrupt the call, give the runner a grace
        period to come back, then kill it."""
        call.abandoned = True
        runner = call.runner
        if self.slots_per_runner == 1 and not call.finished and runner.proc is not None:
            # The runner's SIGALRM handler raises ScoringTimeout in run(). This runner's only
            # slot is still held by this call, so the signal cannot reach a later call.
            # (Multi-threaded runners interrupt their own calls with a watchdog.)
            try:
                runner.proc.send_signal(signal.SIGALRM)
            except (ProcessLookupError, OSError):
                pass
        self.observer.scoring_timeout()
        gevent.spawn(self._reap_after_grace, call)

    def _reap_after_grace(self, call: Call) -> None:
        gevent.sleep(self.settings.timeout_grace_ms / 1000.0)
        runner = call.runner
        if not call.finished and runner.state != DEAD:
            runner.exit_reason = (f"was killed: run() did not return within {self.settings.timeout_grace_ms} ms "
                                  "after its scoring timeout")
            log.error("%s did not come back from a timed-out run() within %d ms; killing and replacing it",
                      runner.name(), self.settings.timeout_grace_ms)
            runner.kill()

    # ------------------------------------------------------------------ shutdown
    def shutdown(self, timeout: float = 5.0) -> None:
        """Let runners finish what they run, then stop them (kill after ``timeout``)."""
        self.stopping = True
        for r in list(self.runners):
            if r.state == STARTING:  # still importing/in init(): nothing to finish, do not wait for it
                r.kill()
            r.close_channel()
        deadline = time.monotonic() + timeout
        for r in list(self.runners):
            if r.proc is None:
                continue
            try:
                r.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                r.kill()
