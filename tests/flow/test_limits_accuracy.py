"""The rate a claim lets through, measured on the claims themselves with a fixed clock:
exact over time, never over limit + burst in any second (docs/flow-control.md). The
same with real workers and the real clock is `make bench-limits`."""

import pytest

from taskqueue.limits import Limit, Rate
from tests.factories import enqueue, make_task
from tests.support.runs import most_in_a_window

NOW = 1_800_000_000_000


def claimed_limited(broker, every_ms: int, until_ms: int, *, count: int = 10) -> list[int]:
    starts = []
    for ms in range(0, until_ms, every_ms):
        for task in broker.claim("default", "w1", count, now=NOW + ms):
            if task.name == "tests.limited":
                starts.append(ms)
    return starts


@pytest.mark.parametrize("every_ms", [1, 3, 4])
def test_a_task_rate_is_exact_whatever_the_claims_rhythm_with_others_flowing(broker, every_ms):
    broker.declare_limits("default", Limit(), [("tests.limited", Limit(Rate(200, 1000)))])
    mixed = [make_task(name="tests.limited" if i % 3 else "tests.free") for i in range(4000)]
    enqueue(broker, *mixed, now=NOW)
    starts = claimed_limited(broker, every_ms, 2000)
    assert len([s for s in starts if 1000 <= s < 2000]) == 200
    assert most_in_a_window([s / 1000 for s in starts]) <= 201


@pytest.mark.parametrize(("every_ms", "burst"), [(3, 1), (4, 1), (7, 2), (9, 2)])
def test_claims_a_little_late_do_not_lower_the_rate(broker, every_ms, burst):
    """Claims that come after a permit was due (by less than an interval): the schedule
    lags, keeps its place and catches up (one at a time with burst 1, two at once with
    burst 2), instead of restarting from each late claim."""
    broker.declare_limits("default", Limit(Rate(200, 1000, burst)), [])
    enqueue(broker, *[make_task() for _ in range(1000)], now=NOW)
    starts = claimed_limited_any(broker, every_ms, 2000)
    assert len([s for s in starts if 1000 <= s < 2000]) >= 199
    assert most_in_a_window([s / 1000 for s in starts]) <= 200 + burst


def claimed_limited_any(broker, every_ms: int, until_ms: int) -> list[int]:
    return [
        ms
        for ms in range(0, until_ms, every_ms)
        for _ in broker.claim("default", "w1", 10, now=NOW + ms)
    ]
