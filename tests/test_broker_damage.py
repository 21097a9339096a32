"""Redis type confusion (issue 13): a key of a queue, or a global key, holding a value
of another Redis type than taskqueue keeps there. Each one is a parametrised case over
(key kind x wrong type), against the session's real Redis:

- before any script meets it, every read (API, console, metrics) works and flags it;
- the first script that needs it moves it aside (kept, counted, logged) and does its
  work, and the whole lifecycle of the queue works on;
- a task record of the wrong type is taken out of whichever set the script walks, the
  queue's other tasks go on.
"""

import logging

import pytest

from taskqueue import inspect
from taskqueue.broker import BucketCounts, MinuteCounts, scripts
from taskqueue.broker.damage import KIND_TYPES
from taskqueue.broker.outcomes import Ack
from taskqueue.errors import TaskDoesNotExist
from taskqueue.inspect import TaskFilter
from taskqueue.limits import Limit, Rate
from taskqueue.status import Status

from .damage import assert_moved_aside, read_everything, spoil, wrong_types
from .factories import enqueue, fail, make_task

NOW = 1_800_000_000_000
LEASE = 10_000
LATER = NOW + 10 * 86_400_000  # past every retention and lease

QUEUE_KEYS = [(kind, t) for kind, expected in KIND_TYPES.items() for t in wrong_types(expected)]


def lifecycle(broker) -> None:
    """Every script of the queue once, each with the outcome it must have."""
    a, b, c, later, keyed = enqueue(
        broker,
        *(make_task() for _ in range(3)),
        make_task(delay_ms=60_000),
        make_task(idempotency_key="order-7"),
        now=NOW,
    )
    assert [t.id for t in broker.claim("default", "w1", 2, lease_ms=LEASE, now=NOW)] == [a, b]
    assert broker.renew("default", [(a, 1), (b, 1)], now=NOW) == [1, 1]
    assert broker.complete("default", [(a, 1, "1")], now=NOW) == [True]
    assert fail(broker, b, 1, delay=0, now=NOW) == "scheduled"
    assert broker.promote("default", now=NOW + 1)[0] == 1
    assert broker.run_now("default", later, now=NOW + 1) == "pending"
    held = {t.id: t.attempt for t in broker.claim("default", "w1", 9, lease_ms=LEASE, now=NOW + 2)}
    assert set(held) == {b, c, later, keyed}
    assert fail(broker, c, held[c], delay=None, now=NOW + 2) == "dead"
    assert broker.release("default", [(later, held[later])], now=NOW + 2) == [True]
    assert broker.cancel("default", b) == ("requested", "processing")
    assert broker.finish_cancelled("default", b, held[b], now=NOW + 3) is Ack.RECORDED
    assert broker.reap("default", now=NOW + 3 + LEASE) == (1, 0)  # keyed
    assert broker.requeue("default", [c, b], now=NOW + 4) == [("dead", True), ("cancelled", True)]
    assert broker.cancel("default", c) == ("cancelled", "pending")
    assert broker.delete("default", [c]) == [("cancelled", True)]
    assert broker.set_paused("default", True) is False
    assert broker.claim("default", "w1", 9) == []
    assert broker.set_paused("default", False) is True
    assert broker.oldest_pending_ms("default") is not None
    assert broker.purge_pending("default") == 3  # later, keyed, b
    assert broker.trim("default", now=LATER) == (1, 0, 0)  # a
    assert broker.record_runtimes("default", {"tests.noop": BucketCounts(count=1)}) == 1
    # flow control: declared and operator limits, and a claim that reads its state
    assert broker.declare_limits("default", Limit(Rate(1000, 1000, 5)), []) == 1
    assert broker.set_limit("default", rate=None) == 0
    assert broker.claim("default", "w1", 9, now=LATER) == []


@pytest.mark.parametrize(("kind", "wrong"), QUEUE_KEYS)
def test_a_queue_key_of_the_wrong_type_is_flagged_moved_aside_and_the_queue_goes_on(
    broker, redis_client, caplog, kind, wrong
):
    q = broker.keys.queue("default")
    key = getattr(q, kind)
    spoil(redis_client, key, wrong)

    read_everything()
    found = inspect.queue_counts("default").damaged
    assert [(d.key, d.found, d.expected) for d in found] == [(key, wrong, KIND_TYPES[kind])]

    with caplog.at_level(logging.WARNING, logger="taskqueue.broker"):
        lifecycle(broker)
    assert_moved_aside(redis_client, q.base, kind, wrong)
    assert key in caplog.text and f"was a {wrong}" in caplog.text
    assert inspect.queue_counts("default").damaged == ()


def test_a_seq_counter_that_is_not_a_number_is_moved_aside_and_fifo_holds(broker, redis_client):
    first, second = enqueue(broker, make_task(), make_task())
    q = broker.keys.queue("default")
    redis_client.set(q.seq, "garbage")
    (third,) = enqueue(broker, make_task())
    assert redis_client.get(q.base + "quarantine:seq") == "garbage"
    assert [c.id for c in broker.claim("default", "w1", 9)] == [first, second, third]


# -- task records of the wrong type, met through each set ------------------------------


def _meet_pending(broker):
    return broker.claim("default", "w1", 9, now=NOW)


def _meet_scheduled(broker):
    return broker.promote("default", now=LATER)


def _meet_active(broker):
    return broker.reap("default", now=LATER)


def _meet_finished(broker):
    return broker.trim("default", now=LATER)


MEETS = {
    "pending": (Status.PENDING, _meet_pending),
    "scheduled": (Status.SCHEDULED, _meet_scheduled),
    "active": (Status.PROCESSING, _meet_active),
    "completed": (Status.COMPLETED, _meet_finished),
    "cancelled": (Status.CANCELLED, _meet_finished),
    "dead": (Status.DEAD, _meet_finished),
}
RECORDS = [(s, t) for s in MEETS for t in wrong_types("hash")]


@pytest.mark.parametrize(("set_kind", "wrong"), RECORDS)
def test_a_task_record_of_the_wrong_type_is_skipped_by_reads_and_moved_aside_by_scripts(
    broker, redis_client, caplog, set_kind, wrong
):
    q = broker.keys.queue("default")
    (good,) = enqueue(broker, make_task(), now=NOW)
    spoil(redis_client, q.task("w1"), wrong)
    redis_client.zadd(getattr(q, set_kind), {"w1": 0})
    redis_client.zadd(q.index, {"w1": 0})
    status, meet = MEETS[set_kind]

    read_everything()
    page = inspect.list_tasks("default", status)
    assert page.damaged == (q.task("w1"),) and "w1" not in [r.id for r in page.items]
    assert inspect.search_tasks(TaskFilter()).damaged == (q.task("w1"),)
    with pytest.raises(TaskDoesNotExist):
        inspect.get_task("w1")

    with caplog.at_level(logging.WARNING, logger="taskqueue.broker"):
        meet(broker)
    assert_moved_aside(redis_client, q.base, "task:w1", wrong)
    assert q.task("w1") in caplog.text
    assert redis_client.zscore(getattr(q, set_kind), "w1") is None
    broker.claim("default", "w1", 9, now=NOW)  # the queue's other task goes on
    assert broker.get("default", good).status == Status.PROCESSING


@pytest.mark.parametrize("wrong", wrong_types("hash"))
def test_operator_actions_on_a_record_of_the_wrong_type_move_it_aside(broker, redis_client, wrong):
    q = broker.keys.queue("default")
    for task_id in ("c1", "r1", "d1", "n1"):
        spoil(redis_client, q.task(task_id), wrong)
    with pytest.raises(TaskDoesNotExist):
        broker.cancel("default", "c1")
    with pytest.raises(TaskDoesNotExist):
        broker.run_now("default", "n1")
    assert broker.requeue("default", ["r1"]) == [("missing", False)]
    assert broker.delete("default", ["d1"]) == [("missing", False)]
    for task_id in ("c1", "r1", "d1", "n1"):
        assert_moved_aside(redis_client, q.base, f"task:{task_id}", wrong)


@pytest.mark.parametrize("wrong", wrong_types("hash"))
def test_a_running_task_whose_record_turned_into_another_type_loses_only_its_own_report(
    broker, redis_client, wrong
):
    q = broker.keys.queue("default")
    enqueue(broker, make_task(), make_task(), now=NOW)
    a, b = broker.claim("default", "w1", 2, lease_ms=LEASE, now=NOW)
    spoil(redis_client, q.task(a.id), wrong)
    assert broker.renew("default", [(a.id, 1), (b.id, 1)], now=NOW) == [0, 1]
    assert broker.complete("default", [(b.id, 1, "1")], now=NOW) == [True]
    assert broker.reap("default", now=LATER) == (0, 0)  # a's id leaves active, nothing else
    assert redis_client.zcard(q.active) == 0


@pytest.mark.parametrize("wrong", wrong_types("string"))
def test_an_idempotency_key_of_the_wrong_type_is_moved_aside_and_the_task_created(
    broker, redis_client, wrong
):
    q = broker.keys.queue("default")
    spoil(redis_client, q.idempotency("order-7"), wrong)
    [(task_id, created)] = broker.enqueue([make_task(idempotency_key="order-7")])
    assert created and redis_client.get(q.idempotency("order-7")) == task_id
    assert_moved_aside(redis_client, q.base, "idem:order-7", wrong)
    assert broker.enqueue([make_task(idempotency_key="order-7")]) == [(task_id, False)]


@pytest.mark.parametrize("wrong", wrong_types("hash"))
def test_a_minute_counter_of_the_wrong_type_is_moved_aside_by_the_next_completion(
    broker, redis_client, wrong
):
    q = broker.keys.queue("default")
    (task_id,) = enqueue(broker, make_task(), now=NOW)
    spoil(redis_client, q.minute(NOW // 60_000), wrong)
    assert broker.per_minute("default", 2, now_ms=NOW) == [MinuteCounts(), MinuteCounts()]
    broker.claim("default", "w1", 1, now=NOW)
    assert broker.complete("default", [(task_id, 1, "1")], now=NOW) == [True]
    assert_moved_aside(redis_client, q.base, f"m:{NOW // 60_000}", wrong)
    assert broker.per_minute("default", 1, now_ms=NOW) == [MinuteCounts(completed=1)]


def test_counters_that_are_not_numbers_restart_instead_of_breaking_a_script(broker, redis_client):
    q = broker.keys.queue("default")
    redis_client.hset(q.stats, mapping={"enqueued": "many", "completed": "1e3"})
    enqueue(broker, make_task())
    assert inspect.queue_counts("default").stats.enqueued == 1


# -- global keys ------------------------------------------------------------------------

GLOBAL = {"queues": "set", "workers": "zset", "periodic": "hash", "archive_lock": "string"}


@pytest.mark.parametrize(
    ("name", "wrong"), [(n, t) for n, e in GLOBAL.items() for t in wrong_types(e)]
)
def test_a_global_key_of_the_wrong_type_is_flagged_and_reads_go_on(
    broker, redis_client, name, wrong
):
    key = getattr(broker.keys, name)
    spoil(redis_client, key, wrong)
    read_everything()
    damage, _ = inspect.global_damage()
    assert [(d.key, d.found) for d in damage] == [(key, wrong)]


@pytest.mark.parametrize("wrong", wrong_types("set"))
def test_a_queue_list_of_the_wrong_type_is_moved_aside_by_the_next_enqueue(
    broker, redis_client, caplog, wrong
):
    spoil(redis_client, broker.keys.queues, wrong)
    assert inspect.queues() == ["default"]
    with caplog.at_level(logging.WARNING, logger="taskqueue.broker"):
        enqueue(broker, make_task(queue="emails"))
    assert inspect.queues() == ["default", "emails"]
    moved = list(
        redis_client.scan_iter(match=f"{broker.keys.prefix}:quarantine:{{{broker.keys.queues}}}:*")
    )
    assert [redis_client.type(k) for k in moved] == [wrong]
    assert inspect.global_damage() == ([], 1)
    assert broker.keys.queues in caplog.text


def test_queue_names_in_the_queue_list_that_are_not_queue_names_are_left_out(broker, redis_client):
    redis_client.sadd(broker.keys.queues, "Bad Name", "a:b", "emails#1", b"\xff", "emails")
    assert inspect.queues() == ["default", "emails"]
    read_everything()


def test_every_kind_the_scripts_check_has_the_type_the_broker_expects():
    """common.lua's KIND_TYPES and damage.py's are one table, written twice."""
    lua = scripts.source("claim_tasks")
    table = lua[lua.index("local KIND_TYPES = {") : lua.index("}", lua.index("KIND_TYPES"))]
    pairs = dict(p.strip().replace("'", "").split(" = ") for p in table[21:].split(",") if "=" in p)
    assert pairs == KIND_TYPES
