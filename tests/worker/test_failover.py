"""Fail-over while workers run: a Redis Cluster master is killed and its replica takes
over; a Sentinel-watched master is killed and the sentinels promote its replica. Tasks
keep being enqueued throughout; the workers must carry on against the new masters, and
no task the broker acknowledged may be lost except one acknowledged just before the
kill (Redis replicates asynchronously: the master may die before its replica has the
write). What was lost and what ran twice is printed (`make test-failover` shows it)."""

import itertools
import threading
import time
from dataclasses import dataclass, field

import pytest
import redis
from redis.crc import key_slot

from taskqueue.client import get_broker
from taskqueue.embedded_redis import RedisProcess, free_port
from taskqueue.errors import TaskQueueError
from tests.support.waits import wait_for
from tests.taskapp import tasks
from tests.topologies import POLL_REDIS, LocalCluster, LocalSentinel

pytestmark = [pytest.mark.slow, pytest.mark.django_db]
LEASE_S = 3.0  # a report lost in the fail-over is redone once the lease expires


@dataclass
class Traffic:
    """Enqueues record(tag) tasks one at a time, remembering when each was acknowledged."""

    acked: dict[str, float] = field(default_factory=dict)  # tag -> monotonic time of the ack
    refused: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            tag = f"t{n}"
            try:
                tasks.record.enqueue(tag)
                self.acked[tag] = time.monotonic()
                n += 1
            except TaskQueueError:
                self.refused += 1  # not acknowledged: it may or may not exist
                time.sleep(0.05)
            time.sleep(0.002)


@pytest.fixture
def evidence_store(tmp_path):
    with RedisProcess(tmp_path / "evidence", port=free_port(), persistent=False) as store:
        yield store


def run_through_failover(settings, tq_settings, spawn_worker, store, url, kill) -> dict:
    """Two workers and a producer on `url`; `kill()` half-way; returns the figures."""
    settings.TASKQUEUE = tq_settings | {"REDIS_URL": url}
    env = {"REDIS_URL": url, "TASKQUEUE_EVIDENCE_URL": store.url}
    workers = [spawn_worker(lease=LEASE_S, env=env) for _ in range(2)]
    wait_for(lambda: len(get_broker().workers()) == 2, timeout=30, message="both workers")
    traffic = Traffic()
    producer = threading.Thread(target=traffic.run, daemon=True)
    producer.start()
    wait_for(lambda: len(traffic.acked) >= 300, timeout=30, message="traffic before the kill")
    killed_at = time.monotonic()
    kill()
    wait_for(lambda: len(traffic.acked) >= 600, timeout=60, message="traffic after the kill")
    traffic.stop.set()
    producer.join(10)
    ran = figures(traffic, store, killed_at)
    assert [w.poll() for w in workers] == [None, None], "the workers are still running"
    return ran


def figures(traffic: Traffic, store: RedisProcess, killed_at: float) -> dict:
    client = redis.Redis.from_url(store.url, decode_responses=True)
    key = f"{get_broker().config.PREFIX}:evidence"
    acked = set(traffic.acked)

    def settled():
        counts = get_broker().counts("default")
        seen = set(client.lrange(key, 0, -1))
        return acked <= seen or counts.pending + counts.scheduled + counts.processing == 0

    wait_for(settled, timeout=60, message="the queue to drain")
    notes = client.lrange(key, 0, -1)
    lost = sorted(acked - set(notes))
    times = sorted(traffic.acked.values())
    result = {
        "acknowledged": len(acked),
        "refused during the fail-over": traffic.refused,
        "enqueue outage (s)": round(max(b - a for a, b in itertools.pairwise(times)), 2),
        "lost": len(lost),
        "ran twice": len(notes) - len(set(notes)),
        "lost acknowledged within 1 s before the kill": sum(
            killed_at - traffic.acked[t] < 1.0 for t in lost
        ),
    }
    print(f"\nfail-over figures: {result}")
    assert result["lost"] == result["lost acknowledged within 1 s before the kill"], lost
    after = [t for t, at in traffic.acked.items() if at > killed_at + 1]
    assert set(after) <= set(notes), "tasks enqueued after the fail-over all ran"
    return result


def test_workers_carry_on_when_a_cluster_master_fails_over(
    tmp_path, settings, tq_settings, spawn_worker, evidence_store
):
    cluster = LocalCluster(tmp_path / "cluster", masters=3, replicas=1).start()
    try:

        def kill_the_queues_master():
            slot = key_slot(f"{tq_settings['PREFIX']}:{{default}}:pending".encode())
            port = cluster.master_of(slot)
            cluster.kill(port)
            wait_for(
                lambda: cluster.master_of(slot) != port, 30, "a replica to take over", **POLL_REDIS
            )

        run_through_failover(
            settings, tq_settings, spawn_worker, evidence_store, cluster.url, kill_the_queues_master
        )
    finally:
        cluster.stop()


def test_workers_follow_the_master_sentinel_promotes(
    tmp_path, settings, tq_settings, spawn_worker, evidence_store
):
    group = LocalSentinel(tmp_path / "sentinel").start()
    try:

        def kill_the_master():
            old = group.master_port()
            group.master.process.kill()
            group.master.process.wait()
            wait_for(
                lambda: group.master_port() != old, 30, "the sentinels to promote", **POLL_REDIS
            )

        run_through_failover(
            settings, tq_settings, spawn_worker, evidence_store, group.url, kill_the_master
        )
    finally:
        group.stop()
