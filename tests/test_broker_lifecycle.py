"""Complete, fail, retry, dead-letter, renew, reap and release - with fencing."""

import pytest

from taskqueue.client import get_broker
from taskqueue.status import Status

from .factories import LEASE, NOW, enqueue, fail, make_task, start


def test_complete_records_the_result_and_keeps_the_record_for_the_ttl(broker, redis_client):
    task_id, attempt = start(broker, make_task())
    assert broker.complete("default", [(task_id, attempt, '{"ok": 1}')], now=NOW + 5) == [True]
    record = broker.get("default", task_id)
    assert (record.status, record.result) == (Status.COMPLETED, {"ok": 1})
    assert record.history[0].outcome == "completed"
    q = broker.keys.queue("default")
    assert redis_client.zcard(q.active) == 0
    assert redis_client.zscore(q.completed, task_id) == NOW + 5
    ttl = redis_client.ttl(q.task(task_id))
    assert broker.config.RESULT_TTL < ttl <= broker.config.RESULT_TTL + 3600


def test_complete_accepts_a_batch_and_refuses_only_the_stale_report(broker):
    enqueue(broker, make_task(), make_task())
    a, b = broker.claim("default", "w1", 2)
    assert broker.complete("default", [(a.id, a.attempt, "1"), (b.id, b.attempt + 1, "2")]) == [
        True,
        False,
    ]
    assert broker.get("default", b.id).status == Status.PROCESSING


def test_completed_records_are_deleted_after_the_result_ttl(broker, tq_settings, settings):
    settings.TASKQUEUE = {**tq_settings, "RESULT_TTL": 60}
    b = get_broker()
    old_id, att = start(b, make_task())
    b.complete("default", [(old_id, att, "1")], now=NOW)
    new_id, att2 = start(b, make_task(), now=NOW + 61_000)
    b.complete("default", [(new_id, att2, "2")], now=NOW + 61_000)
    assert b.get("default", old_id) is None
    assert b.get("default", new_id) is not None
    assert b.counts("default").completed == 1


def test_fail_with_retries_left_schedules_a_retry_after_the_delay(broker):
    task_id, attempt = start(broker, make_task(max_retries=2))
    assert fail(broker, task_id, attempt, delay=3000) == "scheduled"
    record = broker.get("default", task_id)
    assert record.status == Status.SCHEDULED
    assert record.run_at.timestamp() * 1000 == NOW + 3000
    assert (record.failures, record.error_type, record.history[0].outcome) == (
        1,
        "ValueError",
        "retry",
    )
    assert broker.promote("default", now=NOW + 2999)[0] == 0
    assert broker.promote("default", now=NOW + 3000)[0] == 1
    assert broker.claim("default", "w2", 1, now=NOW + 3000)[0].attempt == 2


def test_fail_after_the_last_retry_moves_the_task_to_the_dead_letter_queue(broker):
    task_id, attempt = start(broker, make_task(max_retries=1))
    assert fail(broker, task_id, attempt) == "scheduled"
    broker.promote("default", now=NOW + 1000)
    _, attempt = start(broker, now=NOW + 1000)
    assert fail(broker, task_id, attempt, now=NOW + 1500, error_type="KeyError") == "dead"
    record = broker.get("default", task_id)
    assert (record.status, record.dead_reason, record.error_type) == (
        Status.DEAD,
        "failed",
        "KeyError",
    )
    assert record.traceback == "Traceback..."
    assert [a.outcome for a in record.history] == ["retry", "dead"]
    assert [a.error["type"] for a in record.history] == ["ValueError", "KeyError"]
    assert broker.dead_errors("default") == {"KeyError": 1}
    counts = broker.counts("default")
    assert (counts.dead, counts.scheduled, counts.processing) == (1, 0, 0)
    assert (counts.stats.failed, counts.stats.retried, counts.stats.dead) == (2, 1, 1)


def test_fail_without_a_retry_request_is_dead_at_once(broker):
    task_id, attempt = start(broker, make_task(max_retries=5))
    assert fail(broker, task_id, attempt, delay=None) == "dead"


def test_a_report_on_a_stale_attempt_changes_nothing(broker):
    task_id, attempt = start(broker, make_task())
    broker.reap("default", now=NOW + LEASE + 1)
    _, attempt2 = start(broker, now=NOW + LEASE + 1, worker="w2")
    assert attempt2 == attempt + 1
    assert fail(broker, task_id, attempt) == "stale"
    assert broker.complete("default", [(task_id, attempt, "1")]) == [False]
    assert broker.renew("default", [(task_id, attempt)]) == [0]
    assert broker.release("default", [(task_id, attempt)]) == [False]
    record = broker.get("default", task_id)
    assert (record.status, record.worker, record.failures) == (Status.PROCESSING, "w2", 0)


def test_dead_letters_beyond_the_cap_are_trimmed_and_counted(broker, tq_settings, settings):
    settings.TASKQUEUE = {**tq_settings, "DEAD_MAX": 2}
    b = get_broker()
    ids = []
    for i in range(3):
        task_id, attempt = start(b, make_task(max_retries=0), now=NOW + i)
        fail(b, task_id, attempt, delay=None, now=NOW + i)
        ids.append(task_id)
    assert b.get("default", ids[0]) is None
    assert b.counts("default").dead == 2
    assert b.counts("default").stats.dead_trimmed == 1
    assert b.dead_errors("default") == {"ValueError": 2}


def test_dead_letters_past_their_ttl_are_trimmed(broker, tq_settings, settings):
    settings.TASKQUEUE = {**tq_settings, "DEAD_TTL": 60}
    b = get_broker()
    old_id, attempt = start(b, make_task(max_retries=0))
    fail(b, old_id, attempt, delay=None)
    new_id, attempt = start(b, make_task(max_retries=0), now=NOW + 61_000)
    fail(b, new_id, attempt, delay=None, now=NOW + 61_000)
    assert b.get("default", old_id) is None
    assert b.counts("default").dead == 1


def test_renew_extends_the_lease(broker, redis_client):
    task_id, attempt = start(broker, make_task())
    assert broker.renew("default", [(task_id, attempt)], lease_ms=LEASE, now=NOW + 5000) == [1]
    assert redis_client.zscore(broker.keys.queue("default").active, task_id) == NOW + 5000 + LEASE
    assert broker.reap("default", now=NOW + LEASE + 1) == (0, 0)


def test_renew_tells_the_worker_of_a_cancel_request(broker):
    task_id, attempt = start(broker, make_task())
    assert broker.cancel("default", task_id) == ("requested", "processing")
    assert broker.renew("default", [(task_id, attempt)]) == [2]


def test_reap_hands_an_expired_task_out_again_counting_the_attempt(broker):
    task_id, _ = start(broker, make_task())
    assert broker.reap("default", now=NOW + LEASE - 1) == (0, 0)
    assert broker.reap("default", now=NOW + LEASE) == (1, 0)
    record = broker.get("default", task_id)
    assert (record.status, record.lost, record.history[0].outcome) == (Status.PENDING, 1, "lost")
    (c,) = broker.claim("default", "w2", 1)
    assert (c.id, c.attempt) == (task_id, 2)


def test_reap_dead_letters_a_task_that_lost_too_many_leases(broker):
    task_id, _ = start(broker, make_task())
    now = NOW
    for _ in range(broker.config.MAX_LEASE_LOSSES - 1):
        now += LEASE
        assert broker.reap("default", now=now) == (1, 0)
        start(broker, now=now)
    assert broker.reap("default", now=now + LEASE) == (0, 1)
    record = broker.get("default", task_id)
    assert (record.status, record.dead_reason, record.error_type) == (
        Status.DEAD,
        "worker_lost",
        "WorkerLost",
    )
    assert record.attempts == broker.config.MAX_LEASE_LOSSES


def test_reap_is_bounded_per_call(broker):
    enqueue(broker, *[make_task() for _ in range(5)], now=NOW)
    broker.claim("default", "w", 5, lease_ms=LEASE, now=NOW)
    assert broker.reap("default", limit=2, now=NOW + LEASE) == (2, 0)
    assert broker.reap("default", limit=10, now=NOW + LEASE) == (3, 0)


def test_release_returns_a_task_to_its_place_in_line_without_a_failure(broker):
    first, second = enqueue(broker, make_task(), make_task())
    (c,) = broker.claim("default", "w", 1)
    assert broker.release("default", [(c.id, c.attempt)]) == [True]
    record = broker.get("default", first)
    assert (record.status, record.failures, record.history[0].outcome) == (
        Status.PENDING,
        0,
        "released",
    )
    assert [t.id for t in broker.claim("default", "w", 2)] == [first, second]


@pytest.mark.parametrize("status_after", ["completed", "scheduled"])
def test_every_state_change_is_an_event_on_the_queue_stream(broker, redis_client, status_after):
    task_id, attempt = start(broker, make_task())
    if status_after == "completed":
        broker.complete("default", [(task_id, attempt, "null")])
    else:
        fail(broker, task_id, attempt)
    events = redis_client.xrange(broker.keys.queue("default").events)
    assert [(f["id"], f["status"]) for _, f in events] == [
        (task_id, "pending"),
        (task_id, "processing"),
        (task_id, status_after),
    ]
