"""Round trips per task (issue 16): a worker refills its buffer in batches, reports ride
on its claims, and a pipeline of scripts is one round trip (no SCRIPT EXISTS before
it). Counted on the session's private Redis with INFO commandstats (the tests run one
at a time, so the deltas are this test's)."""

import asyncio

import pytest

import taskqueue
from taskqueue.client import build_async_broker, get_broker
from taskqueue.conf import get_config
from tests.support.workers import run_burst
from tests.taskapp import tasks

TASKS = 300


def calls(redis_client, command: str) -> int:
    stats = redis_client.info("commandstats").get(f"cmdstat_{command}")
    return stats["calls"] if stats else 0


def drained_with(redis_client, **worker) -> dict[str, int]:
    taskqueue.enqueue_many([tasks.echo.prepare(i) for i in range(TASKS)])
    before = {c: calls(redis_client, c) for c in ("evalsha", "script|exists")}
    run_burst(**worker)
    assert get_broker().counts("default").completed == TASKS
    return {c: calls(redis_client, c) - n for c, n in before.items()}


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_worker_claims_and_reports_in_batches(redis_client, concurrency):
    spent = drained_with(redis_client, concurrency=concurrency)
    assert spent["script|exists"] == 0
    # one claim per task and one report per task would be 2 * TASKS; the refill claims
    # half a prefetch at a time and carries the reports that finished meanwhile
    assert spent["evalsha"] <= TASKS * 0.8, spent


def two_claims(broker) -> list:
    return [broker.claim.call("default", "w1", 1, suspects="") for _ in range(2)]


def test_a_pipeline_of_scripts_runs_again_after_redis_forgets_them(redis_client):
    ids = [h.id for h in taskqueue.enqueue_many([tasks.echo.prepare(i) for i in range(2)])]
    redis_client.script_flush()
    replies = get_broker().run_many(two_claims(get_broker()))
    assert sorted(c.id for claim in replies for c in claim) == sorted(ids)


def test_the_async_pipeline_too(redis_client):
    ids = [h.id for h in taskqueue.enqueue_many([tasks.echo.prepare(i) for i in range(2)])]
    redis_client.script_flush()

    async def claim_twice():
        broker = build_async_broker(get_config())
        try:
            return await broker.run_many(two_claims(broker))
        finally:
            await broker.close()

    replies = asyncio.run(claim_twice())
    assert sorted(c.id for claim in replies for c in claim) == sorted(ids)
