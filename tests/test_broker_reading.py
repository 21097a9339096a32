"""Reading: counts, listings with cursors, lookup by id alone, oldest pending, stats."""

import pytest

from taskqueue.broker import MinuteCounts, QueueStats, WorkflowCounters
from taskqueue.errors import ValidationError
from taskqueue.status import Status

from .factories import NOW, enqueue, fail, make_task, start


def all_pages(broker, status, limit):
    ids, cursor = [], None
    while True:
        page = broker.list_tasks("default", status, cursor=cursor, limit=limit)
        ids += [r.id for r in page.items]
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


def test_counts_are_per_status(broker):
    enqueue(broker, make_task(), make_task(), make_task(delay_ms=60_000))
    task_id, attempt = start(broker)
    fail(broker, task_id, attempt, delay=None)
    start(broker)
    c = broker.counts("default")
    assert (c.pending, c.scheduled, c.processing, c.dead, c.completed, c.paused) == (
        0,
        1,
        1,
        1,
        0,
        False,
    )
    assert c.stats.enqueued == 3


def test_pending_lists_in_run_order_across_pages(broker):
    low = enqueue(broker, *[make_task(priority=2) for _ in range(7)])
    high = enqueue(broker, *[make_task(priority=9) for _ in range(6)])
    assert all_pages(broker, Status.PENDING, limit=4) == high + low


def test_finished_tasks_list_newest_first_even_with_equal_timestamps(broker):
    ids = enqueue(broker, *[make_task() for _ in range(11)])
    claimed = broker.claim("default", "w", 11)
    broker.complete("default", [(c.id, c.attempt, "1") for c in claimed[:5]], now=NOW)
    broker.complete("default", [(c.id, c.attempt, "1") for c in claimed[5:]], now=NOW + 1)
    listed = all_pages(broker, Status.COMPLETED, limit=3)
    assert len(listed) == len(set(listed)) == 11
    assert set(listed[:6]) == set(ids[5:])


def test_the_all_status_listing_is_newest_first(broker):
    first = enqueue(broker, make_task(), now=NOW)
    second = enqueue(broker, make_task(delay_ms=5), now=NOW + 1)
    assert all_pages(broker, None, limit=1) == second + first


def test_a_malformed_cursor_is_refused(broker):
    with pytest.raises(ValidationError, match="cursor"):
        broker.list_tasks("default", Status.PENDING, cursor="garbage:x")


def test_a_task_is_found_by_id_alone_in_any_queue(broker):
    (task_id,) = enqueue(broker, make_task("emails"))
    assert broker.find(task_id).queue == "emails"
    assert broker.find("nope") is None


def test_oldest_pending_looks_at_every_priority_band(broker):
    enqueue(broker, make_task(priority=1), now=NOW)
    enqueue(broker, make_task(priority=9), now=NOW + 50)
    assert broker.oldest_pending_ms("default") == NOW
    broker.purge_pending("default")
    assert broker.oldest_pending_ms("default") is None


def test_per_minute_counts_completions_and_failures(broker):
    minute = NOW // 60_000 * 60_000
    task_id, attempt = start(broker, make_task(), now=minute)
    broker.complete("default", [(task_id, attempt, "1")], now=minute + 10)
    task_id, attempt = start(broker, make_task(), now=minute)
    fail(broker, task_id, attempt, now=minute + 20)
    assert broker.per_minute("default", 2, now_ms=minute + 30) == [
        MinuteCounts(),
        MinuteCounts(completed=1, failed=1),
    ]


def test_a_counter_hash_reads_as_its_known_fields_and_ignores_the_others(broker, redis_client):
    q = broker.keys.queue("default")
    fields = {"purged": "4", "mine": "7", "present": "1", "failed": "x", "enqueued": "2"}
    redis_client.hset(q.stats, mapping=fields)
    redis_client.hset(q.minute(NOW // 60_000), mapping={"failed": "3", "mine": "1"})
    assert broker.counts("default").stats == QueueStats(purged=4, enqueued=2)
    assert broker.per_minute("default", 1, now_ms=NOW) == [MinuteCounts(failed=3)]


def test_a_counter_hash_as_a_dict_has_the_fields_it_held_in_their_order(broker, redis_client):
    redis_client.hset(broker.keys.queue("default").stats, mapping={"purged": "0", "dead": "2"})
    assert list(broker.counts("default").stats.as_dict().items()) == [("purged", 0), ("dead", 2)]
    assert QueueStats(dead=2).as_dict() == {"dead": 2}  # built by hand: what is not 0


def test_workflow_counters_read_a_malformed_value_as_0_and_ignore_other_fields(
    broker, redis_client
):
    redis_client.hset(broker.keys.workflow_stats, mapping={"created": "5", "completed": "x"})
    redis_client.hset(broker.keys.workflow_stats, "mine", "9")
    assert broker.workflow_counters() == WorkflowCounters(created=5, completed=0)


def test_the_record_reads_back_every_field(broker):
    t = make_task(args=[1, {"a": "b"}], idempotency_key="idem-1", max_retries=4)
    enqueue(broker, t, now=NOW)
    d = broker.get("default", t.id).to_dict()
    assert d["args"] == [1, {"a": "b"}]
    assert (d["status"], d["priority"], d["max_retries"], d["idempotency_key"]) == (
        "pending",
        5,
        4,
        "idem-1",
    )
    assert d["created_at"].startswith("2027-01-15")


@pytest.mark.parametrize("newest_first", [True, False])
def test_iterating_a_set_walks_long_runs_of_equal_scores_exactly_once(
    broker, redis_client, newest_first
):
    key = broker.keys.queue("default").completed
    redis_client.zadd(key, {f"m{i}": 5 for i in range(7)} | {"a": 1, "z": 9})
    got = [m for m, _ in broker.iter_entries(key, None, newest_first, chunk=2)]
    expected = ["a", *[f"m{i}" for i in range(7)], "z"]
    assert got == (expected[::-1] if newest_first else expected)
    cursor = "5.0:m3"
    after = [m for m, _ in broker.iter_entries(key, cursor, newest_first, chunk=2)]
    assert after == (["m2", "m1", "m0", "a"] if newest_first else ["m4", "m5", "m6", "z"])
