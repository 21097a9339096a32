"""Cheap structural guarantees: one cluster slot per queue, script headers honest."""

import re

import pytest
from redis.crc import key_slot

from taskqueue.broker import scripts
from taskqueue.broker.keys import Keys
from taskqueue.errors import InvalidQueueName

from .factories import enqueue, fail, make_task, start


@pytest.mark.parametrize("queue", ["default", "emails", "a.b-c_d", "x" * 63])
def test_every_key_of_a_queue_maps_to_one_cluster_slot(queue):
    q = Keys("tq").queue(queue)
    keys = [*q.all(), q.task("3f1c"), q.idempotency("order:7"), q.minute(29_000_000)]
    assert len({key_slot(k.encode()) for k in keys}) == 1
    assert all(k.startswith(f"tq:{{{queue}}}:") for k in keys)


@pytest.mark.parametrize(
    "bad",
    ["", "Upper", "../x", "a:b", "{t}", "x" * 64, "-start", "a b", "default\n", "a\n", 5, None],
)
def test_queue_names_outside_the_pattern_are_refused(bad):
    with pytest.raises(InvalidQueueName):
        Keys("tq").queue(bad)


@pytest.mark.parametrize("name", scripts.names())
def test_each_script_header_declares_keys_argv_returns_and_errors(name):
    head = scripts.header(name)
    for part in ("KEYS[1]", "ARGV[1]", "Returns:", "Errors:"):
        assert part in head, f"{name}.lua header lacks {part}"
    numbers = sorted({int(n) for n in re.findall(r"KEYS\[(\d+)\]", head)})
    assert numbers == list(range(1, len(numbers) + 1)), "KEYS are numbered without gaps"
    body = scripts.source(name)[len(head) :]
    used = {int(n) for n in re.findall(r"KEYS\[(\d+)\]", body)}
    assert used <= set(numbers), f"{name}.lua uses KEYS its header does not declare"


def test_every_script_runs_with_exactly_the_keys_its_header_declares(broker, monkeypatch):
    """Drive every broker operation once and check each call against its header."""
    calls = []
    original = scripts.Scripts.run

    def spy(self, name, keys, args, client=None):
        calls.append((name, len(keys)))
        return original(self, name, keys, args, client)

    monkeypatch.setattr(scripts.Scripts, "run", spy)
    _exercise_every_operation(broker)
    assert {name for name, _ in calls} == set(scripts.names())
    for name, n_keys in calls:
        assert scripts.keys_fit(name, n_keys), name


def test_a_wrapper_passing_the_wrong_keys_fails_loudly(broker):
    with pytest.raises(Exception, match="declares 6"):
        broker.scripts.run("claim_tasks", ["only-one"], [])


def _exercise_every_operation(broker):
    enqueue(broker, make_task(), make_task(), make_task(), make_task())
    task_id, attempt = start(broker)
    broker.renew("default", [(task_id, attempt)])
    broker.complete("default", [(task_id, attempt, "1")])
    task_id, attempt = start(broker)
    fail(broker, task_id, attempt, delay=None)
    broker.requeue("default", [task_id])
    broker.delete("default", [task_id])
    task_id, attempt = start(broker)
    broker.release("default", [(task_id, attempt)])
    task_id, attempt = start(broker)
    broker.cancel("default", task_id)
    broker.finish_cancelled("default", task_id, attempt)
    broker.reap("default")
    broker.trim("default")
    broker.run(broker.ops.record_runtimes("default", [("tests.noop|count", 1)]))
    broker.client.set(broker.keys.queue("default").wake, "not a list")
    broker.claim("default", "w1", 1)  # moves the wake list aside: quarantine_keys
    broker.client.set(broker.keys.queues, "not a set")
    broker.register_queues(["other"])  # moves the queue list aside: quarantine_global_key
    (later,) = enqueue(broker, make_task(delay_ms=60_000))
    broker.run_now("default", later)
    broker.promote("default")
    broker.set_paused("default", True)
    broker.oldest_pending_ms("default")
    broker.purge_pending("default")
