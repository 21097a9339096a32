"""Fast unit tests (fakeredis) of how the read side parses what workers write: the
registry, runtime histograms and periodic state, including garbage. The Lua scripts
and everything that moves tasks are tested against a real redis-server elsewhere."""

import fakeredis
import pytest

from taskqueue.broker.redis_broker import RedisBroker
from taskqueue.conf import build


@pytest.fixture
def reads():
    return RedisBroker(fakeredis.FakeRedis(decode_responses=True), build({"PREFIX": "u"}))


def test_workers_are_listed_newest_heartbeat_first_and_the_silent_marked_lost(reads):
    now = reads.time_ms()
    for worker_id, beat in (("old", now - 120_000), ("new", now)):
        reads.client.hset(
            reads.keys.worker(worker_id),
            mapping={"id": worker_id, "queues": "a,b", "heartbeat_at": beat, "concurrency": "4"},
        )
        reads.client.zadd(reads.keys.workers, {worker_id: beat})
    infos = reads.workers()
    assert [(w.id, w.lost, w.queues, w.concurrency) for w in infos] == [
        ("new", False, ["a", "b"], 4),
        ("old", True, ["a", "b"], 4),
    ]


def test_a_worker_entry_with_garbage_fields_still_reads(reads):
    reads.client.hset(reads.keys.worker("w"), mapping={"id": "w", "pid": "x", "heartbeat_at": "?"})
    reads.client.zadd(reads.keys.workers, {"w": 1, "expired-entry": 2})
    (info,) = reads.workers()
    assert (info.pid, info.heartbeat_at, info.lost) == (0, None, True)


def test_runtime_histograms_are_cumulative_per_task(reads):
    key = reads.keys.queue("default").runtime
    reads.client.hset(
        key, mapping={"t|b0": 2, "t|b3": 1, "t|sum_ms": 40, "t|count": 3, "junk": 9, "t|bogus": 1}
    )
    (h,) = reads.runtime_histograms("default")
    assert (h.task, h.count, h.sum_seconds) == ("t", 3, 0.04)
    assert [n for _, n in h.buckets[:5]] == [2, 2, 2, 3, 3]
    assert h.buckets[-1] == (float("inf"), 3)


def test_periodic_state_skips_entries_that_are_not_json(reads):
    reads.client.hset(
        reads.keys.periodic, mapping={"ok": '{"last_tick": 1, "task_id": "t"}', "broken": "{"}
    )
    assert reads.periodic_state() == {"ok": (1, "t")}
