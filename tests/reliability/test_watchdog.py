"""The runner's watchdog (calls in worker threads): a timed-out call gets ScoringTimeout, a
finished one never does, and cancelled deadlines do not pile up."""
import threading
import time

from scorehost.runner import ScoringTimeout, _Watchdog


def test_deadline_interrupts_only_the_late_thread_and_cancelled_entries_are_dropped():
    dog = _Watchdog()
    outcome = {}

    def call(name: str, seconds: float, work_s: float) -> None:
        entry = dog.arm(threading.get_ident(), seconds)
        try:
            deadline = time.monotonic() + work_s
            while time.monotonic() < deadline:  # Python bytecode: interruptible
                pass
            outcome[name] = "finished"
        except ScoringTimeout:
            outcome[name] = "timeout"
        finally:
            dog.cancel(entry)

    late = threading.Thread(target=call, args=("late", 0.2, 10.0))
    quick = threading.Thread(target=call, args=("quick", 5.0, 0.05))
    late.start(), quick.start()
    late.join(15), quick.join(15)
    assert outcome == {"late": "timeout", "quick": "finished"}

    for _ in range(2000):  # finished calls: their (far) deadlines must not accumulate
        dog.cancel(dog.arm(threading.get_ident(), 60.0))
    assert len(dog._heap) <= 600
