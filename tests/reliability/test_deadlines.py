"""The front's deadlines (scorehost.deadlines, bare gevent loop timers standing in for
gevent.Timeout): each one interrupts only its own block, lets another deadline's expiry pass
through, leaves quietly when silent, and a wait ends with the answer or with WaitTimeout."""
import gevent
import pytest
from gevent.hub import Waiter

from scorehost.deadlines import Expired, WaitTimeout, deadline, wait


def test_a_deadline_interrupts_its_block_and_only_claims_its_own_expiry():
    outer, inner = deadline(0.05), deadline(30, silent=True)
    with pytest.raises(Expired) as caught:
        with outer:
            with inner:  # silent, but the expiry is the outer one's: it must pass through
                gevent.sleep(10)
    assert outer.expired(caught.value) and not inner.expired(caught.value)


def test_a_silent_deadline_leaves_its_block_quietly_and_a_finished_block_is_not_interrupted():
    reached = []
    with deadline(0.05, silent=True):
        gevent.sleep(10)
        reached.append("after sleep")
    assert reached == []
    with deadline(0.05):
        gevent.sleep(0)
    gevent.sleep(0.1)  # the closed timer must not fire later into this greenlet


def _switch_later(seconds: float, waiter: Waiter, value) -> None:
    """Answer ``waiter`` from the hub, as the dispatcher's channel callbacks do."""
    gevent.get_hub().loop.timer(seconds).start(waiter.switch, value)


def test_wait_returns_the_answer_or_times_out():
    waiter = Waiter()
    _switch_later(0.01, waiter, "answer")
    assert wait(waiter, 5.0) == "answer"
    with pytest.raises(WaitTimeout):
        wait(Waiter(), 0.05)
    late = Waiter()
    _switch_later(0.2, late, "too late")  # nobody waits any more: kept in the waiter, not delivered
    with pytest.raises(WaitTimeout):
        wait(late, 0.05)
    gevent.sleep(0.3)
