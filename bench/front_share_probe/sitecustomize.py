"""Instrument a scorehost front for bench/front_share.py (imported at start-up through PYTHONPATH).

Does nothing unless ``SCOREHOST_PROBE_OUT`` is set. Then, in the front only (the process that
builds the telemetry), it counts the requests ``FrontApp`` serves and runs a greenlet that
switches the front's telemetry on and off every ``SCOREHOST_PROBE_PERIOD`` seconds, writing one
line per interval: ``on|off requests cpu_seconds wall_seconds gc_seconds gc_collections`` (time
in the garbage collector, from ``gc.callbacks``). ``SCOREHOST_PROBE_SWITCH`` picks what is
switched: ``all`` (the request hooks), ``trace`` (what the front puts into the call for the
runner to build the request item; off, the front builds the item itself), ``metrics`` or
``export`` (the request item and its shipping), or several of them separated by commas.
Runners and the exporter process load this file too and are left alone. It patches
scorehost's modules as they are imported; nothing in the package knows about it.
"""
import importlib.abc
import importlib.machinery
import os
import sys
import time

_OUT = os.environ.get("SCOREHOST_PROBE_OUT")
_COUNT = [0]
_GC = [0.0, 0, 0.0]  # seconds in the garbage collector, collections, start of the current one


def _gc_timer(phase, info) -> None:
    if phase == "start":
        _GC[2] = time.perf_counter()
    else:
        _GC[0] += time.perf_counter() - _GC[2]
        _GC[1] += 1


def _patch_app(module) -> None:
    serve = module.FrontApp.__call__

    def counted(self, environ, start_response):
        _COUNT[0] += 1
        return serve(self, environ, start_response)

    module.FrontApp.__call__ = counted


def _patch_telemetry(module) -> None:
    build = module.build_telemetry

    def build_and_switch(settings):
        telemetry = build(settings)
        front = telemetry.hooks
        if getattr(front, "enabled", False):
            import gevent
            gevent.spawn(_switch, front)
        return telemetry

    module.build_telemetry = build_and_switch


def _switch(front) -> None:
    import gevent
    parts = os.environ.get("SCOREHOST_PROBE_SWITCH", "all").split(",")
    period = float(os.environ.get("SCOREHOST_PROBE_PERIOD", "0.5"))
    limit_s = float(os.environ.get("SCOREHOST_PROBE_MAX_S", "3600"))
    metrics, exporters, needs_url = front.metrics, front.exporters, front.needs_url
    import gc
    gc.callbacks.append(_gc_timer)
    with open(_OUT, "w", buffering=1) as out:
        started = time.monotonic()
        while _COUNT[0] < 50 and time.monotonic() - started < limit_s:  # wait for the load
            gevent.sleep(0.05)
        on = True
        while time.monotonic() - started < limit_s:
            if "all" in parts:
                front.enabled = on
            if "trace" in parts:
                front.tracing = on
            if "metrics" in parts:
                front.metrics = metrics if on else None
            if "export" in parts:
                front.exporters = exporters if on else None
                front.needs_url = needs_url and on
            n0, c0, t0, g0, k0 = _COUNT[0], time.process_time(), time.perf_counter(), _GC[0], _GC[1]
            gevent.sleep(period)
            out.write("%s %d %.6f %.6f %.6f %d\n" % ("on" if on else "off", _COUNT[0] - n0, time.process_time() - c0,
                                                     time.perf_counter() - t0, _GC[0] - g0, _GC[1] - k0))
            on = not on


_PATCHES = {"scorehost.app": _patch_app, "scorehost.telemetry": _patch_telemetry}


class _PatchAfterImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        patch = _PATCHES.get(name)
        if patch is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            patch(module)

        spec.loader.exec_module = exec_module
        return spec


if _OUT:
    sys.meta_path.insert(0, _PatchAfterImport())
