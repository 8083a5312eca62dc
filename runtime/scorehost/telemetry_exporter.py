"""The telemetry exporter process: App Insights (Azure Monitor exporter) and OTLP/HTTP export.

Started by the front (:class:`scorehost.telemetry_channel.ExportChannel`) as a fresh
interpreter, ``python -c "...telemetry_exporter main..." FD``, with one end of a socketpair
as FD. Plain threads (no gevent here). It

* lowers its CPU priority (:func:`lower_priority`: ``SCHED_IDLE`` on Linux, else nice 19), so
  that under saturation the front and the runners keep the CPU and this process falls behind:
  its bounded buffers then drop and count;
* reads ``("config", {...})`` then ``("items", [item, ...])`` frames from the front
  (``scorehost.protocol`` framing; item formats in ``telemetry_channel``), turns items into
  OpenTelemetry SDK objects (:class:`scorehost.telemetry_export.Exporters`) and exports them
  in batches from background threads;
* sends ``("stats", {(exporter, signal): (exported, dropped)})`` to the front every
  ``stats_interval_s`` and once more before exiting;
* on EOF (the front closed the channel at worker exit, or died) flushes what is buffered,
  taking at most ``flush_s`` seconds, and exits 0. SIGTERM/SIGINT sent to the process group
  are ignored so that a Ctrl-C or a container stop does not lose what is buffered: the EOF
  that follows the front's own exit is what stops this process.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading

from . import logs, protocol

#: exit status for "this configuration cannot export": the front does not restart the process
CONFIG_ERROR = 4


def lower_priority(niceness: int) -> str:
    """Run this process (and the threads it starts afterwards) at the lowest CPU priority:
    ``SCHED_IDLE`` where the OS has it, else ``niceness``. Returns which one it got.

    Why SCHED_IDLE rather than nice 19: the scheduler counts a CPU that runs only SCHED_IDLE
    work as idle when it places a task that wakes up, so the front's and the runners' wake-ups
    go to the CPU this process occupies and preempt it at once; at nice 19 this process still
    holds its CPU against them, and they queue on the other one. Measured with one App Insights
    server on 2 cores, switching the exporter between the two every 3 s (echo, 12-16 pairs):
    req/s 1.043-1.047x at 8 and 64 connections (stopping the exporter outright: 1.051x), 1.01 at
    one connection; the exporter's own CPU and items exported were the same, none dropped.
    """
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            return "SCHED_IDLE"
        except OSError:  # e.g. a seccomp profile that forbids it
            pass
    try:
        os.nice(niceness)
    except OSError:
        return "unchanged"
    return f"nice {niceness}"


#: glibc ``mallopt`` parameters (malloc.h) and the values this process sets
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
HEAP_KEEP_BYTES = 32 << 20
HEAP_MMAP_BYTES = 8 << 20


def keep_freed_memory() -> bool:
    """Let glibc's malloc reuse freed memory instead of handing it back to the kernel.

    Each App Insights POST body (~0.6 MB for 512 request items) is a fresh allocation, which
    glibc's defaults often serve from ``mmap`` or from a heap top it has just trimmed, so the
    kernel zeroes and maps fresh pages. Measured on this project's 2-core VM: export alone (24
    POSTs to a loopback endpoint) took ~234 minor faults per POST and ~7.7 µs of CPU per item,
    with this 0 faults and ~6.1 µs; the running exporter under load (8 connections, echo) took
    35-44 faults per POST, with this 14-15 (its CPU per item was the same within noise).
    Allocations below ``HEAP_MMAP_BYTES`` stay in the heap, and up to ``HEAP_KEEP_BYTES`` of
    free heap is kept, which this process then holds although it no longer uses it.
    A no-op (False) where the C library is not glibc."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        if not hasattr(libc, "gnu_get_libc_version"):  # the parameters above are glibc's
            return False
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, HEAP_MMAP_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, HEAP_KEEP_BYTES))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    sock = socket.socket(fileno=int(argv[0]))
    sock.setblocking(True)  # the front's (gevent) end was non-blocking when the fd was inherited
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    reader = protocol.FrameReader(sock)
    try:
        first = reader.read()
    except (protocol.ChannelClosed, OSError):
        return 0
    config = first[1]
    settings = config["settings"]
    priority = lower_priority(int(config["niceness"]))
    heap = keep_freed_memory()
    logs.configure(settings.log_level, settings.log_format)
    log = logging.getLogger("scorehost.telemetry")
    log.debug("Telemetry exporter process %d: CPU priority %s, freed memory kept for reuse: %s",
              os.getpid(), priority, heap)
    from .telemetry_export import Exporters

    try:
        exporters = Exporters(settings, appinsights=config.get("appinsights"), otlp=bool(config.get("otlp")),
                              otlp_logs=bool(config.get("otlp_logs")),
                              pid=config.get("front_pid"))
    except Exception as exc:  # noqa: BLE001 -- e.g. a malformed connection string: the front stops retrying
        log.error("Cannot start telemetry export (App Insights/OpenTelemetry are off): %s", exc)
        logging.shutdown()
        sys.stdout.flush()
        os._exit(CONFIG_ERROR)
    send_lock = threading.Lock()
    done = threading.Event()

    def report() -> None:
        with send_lock:
            protocol.send(sock, ("stats", exporters.counts()))

    def reporter() -> None:
        interval = float(config["stats_interval_s"])
        while not done.wait(interval):
            try:
                report()
            except OSError:
                return

    threading.Thread(target=reporter, name="scorehost-export-stats", daemon=True).start()
    handle = exporters.handle
    try:
        while True:
            message = reader.read()
            if message[0] == "items":
                for item in message[1]:
                    try:
                        handle(item)
                    except Exception:  # noqa: BLE001 -- one bad item must not stop the others
                        log.debug("telemetry: cannot export an item", exc_info=True)
    except (protocol.ChannelClosed, OSError):
        pass
    # the front is gone or shutting down: flush (bounded), report, exit
    flush_s = float(config["flush_s"])
    flusher = threading.Thread(target=exporters.shutdown, args=(flush_s,), daemon=True)
    flusher.start()
    flusher.join(flush_s + 0.5)
    done.set()
    try:
        report()
    except OSError:
        pass
    logging.shutdown()
    sys.stdout.flush()
    os._exit(0)
