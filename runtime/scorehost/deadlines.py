"""Deadlines for the front's greenlets, on gevent's loop timers directly.

``gevent.Timeout`` is a general tool (any exception, any seconds, reusable, nestable, with
``pending``/``cancel``) and costs ~2.4 µs to create, start and close; a /score request used
three (gunicorn's keep-alive wait, reading the body, waiting for the runner): ~3% of the
front's CPU per echo request at one connection (py-spy). A bare loop timer does the same
job here for ~0.5 µs. Behaviour is unchanged: the timer throws into (or wakes) the greenlet
that armed it, from the hub, only while that greenlet is switched out.
"""
from __future__ import annotations

from gevent import get_hub, getcurrent
from gevent.hub import Waiter

_TIMED_OUT = object()


class Expired(BaseException):
    """Thrown into a greenlet at its :class:`deadline`. A BaseException, like gevent.Timeout,
    so that code under the deadline (gunicorn's parser, ``except Exception:``) does not swallow it."""


class deadline:
    """``with deadline(seconds): ...`` raises :class:`Expired` in the block when the time is up
    (``silent=True``: leaves the block quietly instead, like ``gevent.Timeout(seconds, False)``).
    Only the deadline's own expiry is caught by ``silent``; one instance per use."""

    __slots__ = ("_timer", "_silent")

    def __init__(self, seconds: float, silent: bool = False):
        self._timer = get_hub().loop.timer(max(0.0, seconds))
        self._silent = silent

    def __enter__(self) -> "deadline":
        # the exception is made only if the time is up: Expired(self)
        self._timer.start(getcurrent().throw, Expired, self)
        return self

    def __exit__(self, typ, value, tb) -> bool:
        self._timer.close()
        return self._silent and self.expired(value)

    def expired(self, exc: BaseException | None) -> bool:
        """Whether ``exc`` is this deadline's expiry (and not another one passing through)."""
        return type(exc) is Expired and exc.args[0] is self


class WaitTimeout(Exception):
    """Nothing arrived before the deadline (a runner slot, or a call's next message)."""


def wait(waiter: Waiter, timeout: float):
    """``waiter.get()``, or WaitTimeout after ``timeout`` seconds. The timer wakes the waiter
    with a marker instead of throwing, so nothing but the marker can mean "timed out"."""
    timer = get_hub().loop.timer(max(0.0, timeout))
    timer.start(waiter.switch, _TIMED_OUT)
    try:
        result = waiter.get()
    finally:
        timer.close()
    if result is _TIMED_OUT:
        raise WaitTimeout
    return result
