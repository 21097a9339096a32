"""A heartbeat that failed because Redis was unreachable is tried again after a second,
not after a whole interval (lease / 3).

A beat that meets a silent peer (a black-holed connection) blocks for up to twice the
socket timeout before it fails; waiting a whole interval after that could leave three
intervals - the whole lease - between two renewals, and a task still running would
lose its lease to the reaper over a 10 s network fault."""

import time

from taskqueue.errors import BrokerUnavailable
from taskqueue.worker.heartbeat import Heartbeat, RuntimeStats
from tests.support.waits import wait_for


class UnreachableBroker:
    """Every call fails as an unreachable Redis does; the times of the calls are kept."""

    def __init__(self):
        self.calls: list[float] = []

    def time_ms(self) -> int:
        self.calls.append(time.monotonic())
        raise BrokerUnavailable("Redis is unavailable: timed out")


def test_a_failed_beat_is_retried_within_a_second_not_a_whole_interval():
    broker = UnreachableBroker()
    beat = Heartbeat(broker, 3.0, list, lambda *a: None, lambda: {"id": "w1"}, RuntimeStats())
    beat.start()
    try:
        wait_for(lambda: len(broker.calls) >= 2, 10, "a second beat")
    finally:
        beat.stop()
        beat.join(5)
    assert broker.calls[1] - broker.calls[0] < 1.5
