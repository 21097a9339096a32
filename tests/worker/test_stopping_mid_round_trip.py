"""A worker stopped (SIGTERM) while its fetch loop is in the middle of a round trip
(reports + claim) finishes that round trip first: the outcomes it carried are recorded,
not handed back to the queue to run again."""

import asyncio
import threading

import pytest

from taskqueue.broker.async_broker import AsyncRedisBroker
from taskqueue.status import Status
from taskqueue.worker.acks import Acknowledger
from tests.taskapp import tasks

from .conftest import wait_until

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
    wait_until(lambda: worker.loop.is_closed(), 15, "the worker to stop")
    record = handle.record()
    assert (record.status, record.attempts) == (Status.COMPLETED, 1)
