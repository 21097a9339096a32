"""A worker serving several queues claims from the first in its order, and asks the
others in the same round trip whether a claim could take anything there (`claimable`):
it sends claims only to those that said yes (worker/claiming.py). So an idle worker's
latency does not grow with the number of queues it serves (docs/PERFORMANCE.md)."""

import asyncio
import threading

import pytest

import taskqueue
from taskqueue.broker.async_broker import AsyncRedisBroker
from taskqueue.limits import Rate
from taskqueue.status import Status
from taskqueue.worker import worker as worker_module
from tests.support.waits import wait_for
from tests.taskapp import tasks

from ..factories import enqueue, make_task

pytestmark = pytest.mark.django_db
QUEUES = ("q1", "q2", "q3", "q4", "q5", "q6")


def test_claimable_says_whether_a_claim_could_take_a_task(broker, redis_client):
    assert broker.claimable("q1") is False
    enqueue(broker, make_task("q1"))
    assert broker.claimable("q1") is True
    broker.set_paused("q1", True)  # a paused queue answers the same: its claim takes none
    assert broker.claimable("q1") is True
    enqueue(broker, make_task("q2", delay_ms=60_000))  # scheduled, not pending
    assert broker.claimable("q2") is False
    broker.set_limit("q3", rate=Rate(5, 1000))
    assert broker.claimable("q3") is False  # a limit, and nothing in line
    held_back_by_a_rate(broker, "q5")  # pending is empty, the held line is not
    assert broker.claimable("q5") is True
    redis_client.set(broker.keys.queue("q4").pending, "not a zset")  # the claim moves it
    assert broker.claimable("q4") is True


def held_back_by_a_rate(broker, queue: str) -> None:
    """One task claimed and two held back by their task's rate, in their line."""
    name = make_task(queue).name
    broker.set_limit(queue, name, rate=Rate(1, 60_000))
    enqueue(broker, make_task(queue), make_task(queue), make_task(queue))
    assert len(broker.claim(queue, "w1", 3)) == 1
    assert broker.counts(queue).pending == 0 and broker.counts(queue).scheduled == 2


@pytest.fixture
def round_trips(monkeypatch):
    """Every round trip the worker makes: its scripts, as (script, queue) pairs."""
    seen: list[list[tuple[str, str]]] = []
    run_many = AsyncRedisBroker.run_many

    async def spy(self, calls):
        seen.append([(c.script, c.queue) for c in calls])
        return await run_many(self, calls)

    monkeypatch.setattr(AsyncRedisBroker, "run_many", spy)
    return seen


def claims(round_trips) -> set[str]:
    trips = list(round_trips)
    return {queue for trip in trips for script, queue in trip if script == "claim_tasks"}


def test_claims_go_only_to_the_first_queue_and_those_that_may_have_a_task(
    background_worker, round_trips
):
    background_worker(queues=QUEUES, concurrency=2)
    handles = [tasks.echo.using(queue="q5").enqueue(i) for i in range(5)]
    wait_for(lambda: all(h.record().status == Status.COMPLETED for h in handles), 10, "q5")
    assert claims(round_trips) == {"q1", "q5"}
    asked = [trip for trip in list(round_trips) if ("claim_tasks", "q1") in trip]
    assert asked and all(("claimable", q) in trip for trip in asked for q in QUEUES[1:])


def test_a_busy_worker_whose_first_queue_fills_its_claims_does_not_ask(
    background_worker, round_trips
):
    handles = taskqueue.enqueue_many([tasks.echo.using(queue="q1").prepare(i) for i in range(300)])
    background_worker(queues=QUEUES, concurrency=2)
    wait_for(lambda: handles[-1].record().status == Status.COMPLETED, 30, "the tasks")
    q1_rounds = [trip for trip in list(round_trips) if ("claim_tasks", "q1") in trip]
    silent = [trip for trip in q1_rounds if not any(s == "claimable" for s, _ in trip)]
    assert len(q1_rounds) > 10 and len(silent) > len(q1_rounds) / 2, (len(q1_rounds), len(silent))


def test_the_queue_order_holds(background_worker, evidence):
    low = tasks.sleep_for.using(queue="q5").enqueue(0, "low")
    high = tasks.sleep_for.using(queue="q2").enqueue(0, "high")
    background_worker(queues=QUEUES, concurrency=1, prefetch=0)
    wait_for(lambda: low.record().status == Status.COMPLETED, 10, "both tasks")
    assert high.record().status == Status.COMPLETED
    starts = [e.split(":")[1] for e in evidence() if e.startswith("start:")]
    assert starts == ["high", "low"]


def test_a_task_that_arrives_just_after_its_queue_said_no_is_claimed_at_once(
    monkeypatch, background_worker
):
    """Its wake-up token is still there: the worker's next wait returns at once. The
    safety-net timeout of that wait is made far longer than the test's patience."""
    monkeypatch.setattr(worker_module, "BLOCK_S", 60.0)
    said_no = threading.Event()
    late: list = []
    run_many = AsyncRedisBroker.run_many

    async def enqueue_after_the_answer(self, calls):
        replies = await run_many(self, calls)
        asked = [r for c, r in zip(calls, replies, strict=True) if c.script == "claimable"]
        if asked and not said_no.is_set() and not any(asked):
            said_no.set()  # q5 answered no: the task arrives before the walk goes on
            late.append(await asyncio.to_thread(tasks.echo.using(queue="q5").enqueue, "late"))
        return replies

    monkeypatch.setattr(AsyncRedisBroker, "run_many", enqueue_after_the_answer)
    background_worker(queues=QUEUES, concurrency=2)
    tasks.echo.using(queue="q1").enqueue("first")  # wakes the worker: a claim round
    assert said_no.wait(10), "no claim round asked the other queues"
    wait_for(lambda: late and late[0].record().status == Status.COMPLETED, 10, "the late task")
