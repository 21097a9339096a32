"""The worker's buffer of tasks claimed ahead (taskqueue/worker/ready.py): the order in
which they start."""

import pytest

from taskqueue.context import TaskContext
from taskqueue.records import Claimed
from taskqueue.worker.ready import ReadyLine
from taskqueue.worker.runner import Running

BIG = 1000


def task(name: str, queue: str = "default", tenant: str = "", band: int = 100) -> Running:
    c = Claimed(name, queue, 1, "t", "[]", "{}", None, 0, 0, "{}", tenant=tenant, band=band)
    return Running(c, TaskContext(c.id, c.name, queue, 1, 0, 0))


def drain(line: ReadyLine, n: int | None = None) -> list[str]:
    out = []
    while line and (n is None or len(out) < n):
        out.append(line.popleft().claimed.id)
    return out


def test_a_queue_without_tenants_starts_as_claimed():
    line = ReadyLine()
    for i in range(5):
        line.append(task(f"t{i}"))
    assert len(line) == 5
    assert drain(line) == ["t0", "t1", "t2", "t3", "t4"]
    assert not line


def test_a_tenant_claimed_later_takes_its_turn_before_the_buffered_flood():
    line = ReadyLine()
    for i in range(10):
        line.append(task(f"a{i}", tenant="a"))
    assert drain(line, 2) == ["a0", "a1"]
    line.append(task("b0", tenant="b"))
    line.append(task("b1", tenant="b"))
    assert drain(line, 4) == ["a2", "b0", "a3", "b1"]  # one turn each
    assert drain(line) == [f"a{i}" for i in range(4, 10)]


def test_higher_priority_claimed_later_starts_first_within_its_queue():
    line = ReadyLine()
    line.append(task("low0"))
    line.append(task("low1"))
    line.append(task("urgent", band=10))
    assert drain(line) == ["urgent", "low0", "low1"]


def test_queues_keep_the_order_they_were_claimed_in():
    line = ReadyLine()
    line.append(task("h0", queue="high"))
    line.append(task("h1", queue="high"))
    line.append(task("l0", queue="low", tenant="b", band=0))
    line.append(task("h2", queue="high"))
    # the turns go high, high, low, high whatever the bands and tenants in each
    assert drain(line) == ["h0", "h1", "l0", "h2"]


def test_clear_empties_it():
    line = ReadyLine()
    line.append(task("x"))
    line.clear()
    assert len(line) == 0
    with pytest.raises(IndexError):
        line.popleft()


def test_many_tenants_over_time_leave_no_trail():
    line = ReadyLine()
    line.append(task("keep", tenant="steady"))
    for i in range(BIG):
        line.append(task(f"t{i}", tenant=f"tenant-{i}"))
        line.popleft()
    inner = line._queues["default"]
    assert len(inner.last) <= 4 * len(inner.heap) + 65
