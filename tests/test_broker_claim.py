"""Enqueue and claim: priority order, FIFO, leases, pause, delays, idempotency."""

from taskqueue.priority import BAND_WIDTH, MAX_LEVEL
from taskqueue.status import Status

from .factories import enqueue, make_task

NOW = 1_800_000_000_000


def claim_ids(broker, count=100, **kw):
    return [c.id for c in broker.claim("default", "w1", count, **kw)]


def test_claim_takes_higher_priority_first(broker):
    low, high, mid = enqueue(
        broker, make_task(priority=1), make_task(priority=10), make_task(priority=5)
    )
    assert claim_ids(broker) == [high, mid, low]


def test_claim_is_fifo_within_a_priority(broker):
    ids = enqueue(broker, *[make_task(priority=7) for _ in range(50)])
    assert claim_ids(broker, 20) + claim_ids(broker, 40) == ids


def test_fifo_and_priority_hold_near_the_largest_sequence_numbers(broker, redis_client):
    """Scores stay exact in a double: Lua must not round them to 14 digits. Ids run in
    reverse alphabetical order, so a rounded (tied) score would come out reversed."""
    redis_client.set(broker.keys.queue("default").seq, BAND_WIDTH - 100)
    lowest = [make_task(priority=1, task_id=f"z{9 - i}") for i in range(6)]
    for t in lowest:
        t.band = MAX_LEVEL  # the largest band: scores just under 2**53
    higher = [make_task(priority=1, task_id=f"y{9 - i}") for i in range(3)]
    enqueue(broker, *lowest[:3], *higher, *lowest[3:])
    assert claim_ids(broker) == [t.id for t in higher + lowest]
    assert (MAX_LEVEL + 1) * BAND_WIDTH < 2**53


def test_claim_moves_each_task_into_active_under_a_lease(broker, redis_client):
    (task_id,) = enqueue(broker, make_task())
    (claimed,) = broker.claim("default", "w1", 1, lease_ms=5000, now=NOW)
    q = broker.keys.queue("default")
    assert (claimed.id, claimed.attempt) == (task_id, 1)
    assert redis_client.zscore(q.active, task_id) == NOW + 5000
    assert redis_client.zcard(q.pending) == 0
    record = broker.get("default", task_id)
    assert record.status == Status.PROCESSING
    assert record.worker == "w1"
    assert [(a.number, a.worker) for a in record.history] == [(1, "w1")]


def test_claim_returns_the_task_payload(broker):
    t = make_task(args=[1, "two"], name="app.tasks.thing", max_retries=7)
    enqueue(broker, t)
    (c,) = broker.claim("default", "w1", 1)
    assert (c.name, c.args, c.kwargs, c.max_retries, c.failures) == (
        "app.tasks.thing",
        '[1, "two"]',
        "{}",
        7,
        0,
    )


def test_claim_respects_the_count(broker):
    enqueue(broker, *[make_task() for _ in range(5)])
    assert len(claim_ids(broker, 3)) == 3
    assert len(claim_ids(broker, 3)) == 2
    assert claim_ids(broker, 3) == []


def test_a_paused_queue_hands_out_nothing_until_resumed(broker):
    enqueue(broker, make_task())
    assert broker.set_paused("default", True) is False
    assert claim_ids(broker) == []
    assert broker.set_paused("default", False) is True
    assert len(claim_ids(broker)) == 1


def test_a_delayed_task_waits_in_scheduled_until_due(broker):
    (task_id,) = enqueue(broker, make_task(delay_ms=10_000), now=NOW)
    assert broker.get("default", task_id).status == Status.SCHEDULED
    assert claim_ids(broker, now=NOW) == []
    assert broker.promote("default", now=NOW + 9_999)[:2] == (0, NOW + 10_000)
    assert broker.promote("default", now=NOW + 10_000)[:2] == (1, None)
    assert claim_ids(broker, now=NOW + 10_000) == [task_id]


def test_an_eta_task_waits_until_its_time(broker):
    (task_id,) = enqueue(broker, make_task(eta_ms=NOW + 60_000), now=NOW)
    assert broker.promote("default", now=NOW + 59_999)[0] == 0
    assert broker.promote("default", now=NOW + 60_000)[0] == 1
    assert broker.get("default", task_id).status == Status.PENDING


def test_an_eta_in_the_past_is_pending_at_once(broker):
    (task_id,) = enqueue(broker, make_task(eta_ms=NOW - 1), now=NOW)
    assert broker.get("default", task_id).status == Status.PENDING


def test_enqueue_many_keeps_the_callers_order_across_queues(broker):
    tasks = [make_task("a"), make_task("b"), make_task("a"), make_task("c")]
    replies = broker.enqueue(tasks)
    assert [tid for tid, _ in replies] == [t.id for t in tasks]
    assert all(created for _, created in replies)
    assert {"a", "b", "c"} <= set(broker.known_queues())


def test_an_idempotency_key_returns_the_existing_task(broker):
    first = broker.enqueue([make_task(idempotency_key="order-7")])
    again = broker.enqueue([make_task(idempotency_key="order-7")])
    assert again == [(first[0][0], False)]
    assert broker.counts("default").pending == 1
    assert broker.counts("default").stats.enqueued == 1


def test_an_idempotency_key_of_a_deleted_task_makes_a_new_one(broker):
    [(task_id, _)] = broker.enqueue([make_task(idempotency_key="k")])
    broker.claim("default", "w", 1)
    broker.complete("default", [(task_id, 1, "null")])
    broker.delete("default", [task_id])
    [(new_id, created)] = broker.enqueue([make_task(idempotency_key="k")])
    assert created and new_id != task_id


def test_enqueue_leaves_bounded_wake_up_tokens(broker, redis_client, tq_settings, settings):
    settings.TASKQUEUE = {**tq_settings, "WAKE_MAX": 3}
    from taskqueue.client import get_broker

    b = get_broker()
    enqueue(b, *[make_task() for _ in range(10)])
    assert redis_client.llen(b.keys.queue("default").wake) == 3


def test_a_scheduled_task_leaves_no_wake_up_token(broker, redis_client):
    enqueue(broker, make_task(delay_ms=60_000))
    assert redis_client.llen(broker.keys.queue("default").wake) == 0


def test_claim_skips_and_counts_an_id_without_a_record(broker, redis_client):
    enqueue(broker, make_task(task_id="ok"))
    redis_client.zadd(broker.keys.queue("default").pending, {"ghost": 0})
    assert claim_ids(broker) == ["ok"]
    assert broker.counts("default").stats.orphans == 1


def _make_suspect(broker, task_id: str) -> None:
    """Claim a task and let its lease expire: it goes back to pending having lost one."""
    (c,) = broker.claim("default", "dead-worker", 1, lease_ms=1000, now=NOW)
    assert c.id == task_id
    assert broker.reap("default", now=NOW + 1000) == (1, 0)


def test_a_busy_claim_passes_over_a_suspect_and_says_so(broker):
    suspect, a, b = enqueue(broker, make_task(), make_task(), make_task())
    _make_suspect(broker, suspect)
    claimed = broker.claim("default", "w1", 10, suspects="busy")
    assert [c.id for c in claimed] == [a, b]
    assert claimed.suspects_passed == 1
    assert broker.get("default", suspect).status == Status.PENDING


def test_an_idle_claim_takes_a_suspect_at_the_head_alone(broker):
    suspect, a, b = enqueue(broker, make_task(), make_task(), make_task())
    _make_suspect(broker, suspect)
    claimed = broker.claim("default", "w1", 10, suspects="alone")
    assert [(c.id, c.lost) for c in claimed] == [(suspect, 1)]
    assert claimed.suspects_passed == 0
    assert claim_ids(broker, 10, suspects="alone") == [a, b]


def test_an_idle_claim_takes_the_tasks_before_a_suspect_but_not_the_suspect(broker):
    a, suspect, b = enqueue(broker, make_task(), make_task(), make_task())
    broker.claim("default", "w0", 1, lease_ms=10**9, now=NOW)  # a: held, the suspect is next
    _make_suspect(broker, suspect)
    broker.release("default", [(a, 1)])  # a is back in front of the suspect
    claimed = broker.claim("default", "w1", 10, suspects="alone")
    assert ([c.id for c in claimed], claimed.suspects_passed) == ([a, b], 1)


def test_a_claim_without_a_mode_takes_suspects_like_any_task(broker):
    suspect, a = enqueue(broker, make_task(), make_task())
    _make_suspect(broker, suspect)
    claimed = broker.claim("default", "w1", 10)
    assert [c.id for c in claimed] == [suspect, a]
    assert claimed.suspects_passed == 0
