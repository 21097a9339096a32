"""Stopping a worker (SIGTERM) hands back only what it has not done: a stop in the
middle of a round trip (reports + claim) finishes that round trip first, so the outcomes
it carried are recorded rather than run again; tasks claimed ahead of a free slot are
released unstarted rather than begun in the grace period and cut off."""

import asyncio
import threading

import pytest

from taskqueue.broker.async_broker import AsyncRedisBroker
from taskqueue.status import Status
from taskqueue.worker.acks import Acknowledger
from tests.support.waits import wait_for
from tests.taskapp import tasks

pytestmark = pytest.mark.django_db


def test_a_stop_during_a_report_and_claim_round_trip_loses_no_report(
    monkeypatch, background_worker
):
    in_trip = threading.Event()
    run_many = AsyncRedisBroker.run_many

    async def slow_when_reporting(self, calls):
        if len(calls) > 1 and calls[-1].script == "claim_tasks":  # reports + a claim
            in_trip.set()
            await asyncio.sleep(1.0)
        return await run_many(self, calls)

    async def never_on_its_own(self):  # only the fetch loop reports, in its round trips
        await asyncio.Event().wait()

    monkeypatch.setattr(AsyncRedisBroker, "run_many", slow_when_reporting)
    monkeypatch.setattr(Acknowledger, "run", never_on_its_own)
    worker = background_worker(concurrency=1)
    handle = tasks.echo.enqueue("once")
    assert in_trip.wait(10), "the worker never reported in a round trip"
    worker.stop_from_thread()
    wait_for(lambda: worker.loop.is_closed(), 15, "the worker to stop")
    record = handle.record()
    assert (record.status, record.attempts) == (Status.COMPLETED, 1)


def test_a_task_claimed_ahead_is_handed_back_not_started_during_the_grace(
    background_worker, evidence
):
    first = tasks.sleep_for.enqueue(1.0, "first")
    second = tasks.sleep_for.enqueue(0.2, "second")  # claimed with it, waiting for the slot
    worker = background_worker(concurrency=1, grace=3.0)
    wait_for(lambda: any(e.startswith("start:first") for e in evidence()), 10, "first")
    worker.stop_from_thread()
    wait_for(lambda: worker.loop.is_closed(), 15, "the worker to stop")
    assert not any(e.startswith("start:second") for e in evidence())
    assert first.record().status == Status.COMPLETED
    assert [a.outcome for a in second.record().history] == ["released"]
