"""The inspection layer: searching tasks across queues, dead letters, summaries."""

import pytest

from taskqueue import inspect
from taskqueue.errors import ValidationError
from taskqueue.inspect import TaskFilter
from taskqueue.status import Status
from tests.support.records import make_dead
from tests.support.tasks import add, send


def all_pages(flt, limit):
    ids, cursor = [], None
    while True:
        page = inspect.search_tasks(flt, cursor=cursor, limit=limit)
        ids += [r.id for r in page.items]
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


def test_search_merges_every_queue_newest_first(broker):
    ids = []
    for i in range(7):
        task = add.prepare(i, i) if i % 2 else send.prepare("x")
        ids += [task_id for task_id, _ in broker.enqueue([task], now=1_800_000_000_000 + i)]
    assert all_pages(TaskFilter(), limit=3) == ids[::-1]


def test_search_filters_by_name_status_and_exception(broker):
    dead_value = make_dead(broker, add.enqueue(1, 2), "ValueError")
    dead_key = make_dead(broker, send.enqueue("x"), "KeyError")
    pending = add.enqueue(1, 2).id
    assert set(all_pages(TaskFilter(name="tests.support.tasks.add"), 1)) == {dead_value, pending}
    assert set(all_pages(TaskFilter(status=Status.DEAD), 1)) == {dead_key, dead_value}
    assert all_pages(TaskFilter(exception="KeyError"), 10) == [dead_key]
    assert all_pages(TaskFilter(status=Status.PENDING, queue="emails"), 10) == []


def test_search_by_id_finds_the_task():
    task_id = send.enqueue("x").id
    page = inspect.search_tasks(TaskFilter(q=task_id))
    assert [r.id for r in page.items] == [task_id]


def test_search_by_part_of_a_name():
    send.enqueue("x")
    add.enqueue(1, 2)
    page = inspect.search_tasks(TaskFilter(q="SEND"))
    assert [r.name for r in page.items] == ["custom.send"]


def test_a_filter_that_scans_past_the_budget_returns_a_short_page_with_a_cursor(
    broker, monkeypatch
):
    monkeypatch.setattr(inspect, "SCAN_BUDGET", 10)
    for _ in range(25):
        add.enqueue(1, 2)
    target = send.enqueue("x").id
    for _ in range(25):
        add.enqueue(1, 2)
    assert all_pages(TaskFilter(name="custom.send"), 5) == [target]


def test_dead_groups_count_per_exception_across_queues(broker):
    make_dead(broker, add.enqueue(1, 2), "ValueError")
    make_dead(broker, send.enqueue("x"), "ValueError")
    make_dead(broker, send.enqueue("x"), "KeyError")
    assert inspect.dead_groups() == {"ValueError": 2, "KeyError": 1}
    assert inspect.dead_groups("emails") == {"KeyError": 1, "ValueError": 1}


def test_queue_summary_reports_counts_age_and_throughput(broker):
    add.enqueue(1, 2)
    summary = inspect.queue_summary("default")
    assert summary.counts.pending == 1
    assert 0 <= summary.oldest_pending_age_s < 5
    assert len(summary.per_minute) == 60


@pytest.mark.parametrize(("status", "limit"), [("nope", 10), (None, 0), (None, 201), (None, True)])
def test_bad_listing_arguments_are_refused(status, limit):
    with pytest.raises(ValidationError):
        inspect.list_tasks("default", status, limit=limit)
