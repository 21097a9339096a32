"""Concurrent enqueues from one process share script calls (taskqueue/coalesce.py): a
lone caller sends at once; callers that overlap a call in flight go in the next one,
together, each getting its own replies; a shared call that fails is sent again by each
caller alone."""

import threading

import pytest

from taskqueue import coalesce
from taskqueue.coalesce import Coalescer
from taskqueue.errors import BrokerUnavailable
from tests.support.waits import wait_for
from tests.taskapp.tasks import echo


class Recorder:
    """A send function that records each call and can be held until released."""

    def __init__(self, fail_on=None):
        self.calls: list[list] = []
        self.held = threading.Event()
        self.held.set()
        self.fail_on = fail_on  # a task value whose presence makes a call raise

    def __call__(self, tasks):
        self.calls.append(list(tasks))
        self.held.wait(timeout=10)
        if self.fail_on is not None and self.fail_on in tasks:
            raise BrokerUnavailable("refused")
        return [f"reply-{t}" for t in tasks]


def in_threads(coalescer, batches):
    """Each batch enqueued from its own thread: {batch index: replies or exception}."""
    results: dict[int, object] = {}

    def run(i, tasks):
        try:
            results[i] = coalescer.enqueue(tasks)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, b)) for i, b in enumerate(batches)]
    for t in threads:
        t.start()
    return threads, results


def test_a_lone_caller_sends_its_tasks_at_once_in_one_call():
    send = Recorder()
    assert Coalescer(send).enqueue(["a", "b"]) == ["reply-a", "reply-b"]
    assert send.calls == [["a", "b"]]


def test_callers_that_overlap_a_call_share_the_next_one_and_get_their_own_replies():
    send = Recorder()
    send.held.clear()  # the first call stays in flight
    coalescer = Coalescer(send)
    first, results = in_threads(coalescer, [["lead"]])
    wait_for(lambda: len(send.calls) == 1, 5, "the first call to be in flight")
    rest, more = in_threads(coalescer, [[f"t{i}", f"u{i}"] for i in range(5)])
    wait_for(lambda: len(coalescer._waiting) == 5, 5, "the five callers to wait")
    send.held.set()
    for t in first + rest:
        t.join(timeout=10)
    assert results == {0: ["reply-lead"]}
    assert more == {i: [f"reply-t{i}", f"reply-u{i}"] for i in range(5)}
    assert len(send.calls) == 2 and sorted(send.calls[1]) == sorted(
        [x for i in range(5) for x in (f"t{i}", f"u{i}")]
    )
    assert not coalescer._busy and coalescer._waiting == []


def test_a_shared_call_that_fails_is_sent_again_by_each_caller_alone():
    send = Recorder(fail_on="bad")
    send.held.clear()
    coalescer = Coalescer(send)
    first, _ = in_threads(coalescer, [["lead"]])
    wait_for(lambda: len(send.calls) == 1, 5, "the first call to be in flight")
    rest, results = in_threads(coalescer, [["good"], ["bad"], ["fine"]])
    wait_for(lambda: len(coalescer._waiting) == 3, 5, "the three callers to wait")
    send.held.set()
    for t in first + rest:
        t.join(timeout=10)
    assert results[0] == ["reply-good"] and results[2] == ["reply-fine"]
    assert isinstance(results[1], BrokerUnavailable)
    # the shared call, then one call each, alone
    assert sorted(map(tuple, send.calls[2:])) == [("bad",), ("fine",), ("good",)]


def test_a_lone_callers_error_is_its_own_and_the_next_call_goes_through():
    send = Recorder(fail_on="bad")
    coalescer = Coalescer(send)
    with pytest.raises(BrokerUnavailable):
        coalescer.enqueue(["bad"])
    assert coalescer.enqueue(["ok"]) == ["reply-ok"]
    assert send.calls == [["bad"], ["ok"]]


def test_sixteen_threads_enqueue_every_task_once_in_fewer_calls_than_tasks(broker, monkeypatch):
    calls = []
    real = coalesce.coalescer(broker)._send

    def counted(tasks):
        calls.append(len(tasks))
        return real(tasks)

    monkeypatch.setattr(coalesce.coalescer(broker), "_send", counted)
    handles: list = []

    def work(n):
        for i in range(25):
            handles.append((n * 100 + i, echo.enqueue(n * 100 + i)))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(handles) == 400 and len({h.id for _, h in handles}) == 400
    assert sum(calls) == 400 and broker.counts("default").pending == 400
    assert all(h.record().args == [value] for value, h in handles[::20])  # each its own
    assert len(calls) < 400  # overlapping callers shared calls
