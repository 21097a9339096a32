"""The worker's claim and report loops survive any error, not only an unreachable
Redis: an unexpected exception once (a bug, a reply nobody foresaw) is logged, and the
loop goes on; a worker that stops claiming while it looks alive is the worst outcome."""

from taskqueue.broker.async_broker import AsyncRedisBroker
from taskqueue.status import Status
from tests.support.waits import wait_for
from tests.taskapp import tasks


def fail_once(monkeypatch, when) -> list:
    """AsyncRedisBroker.run_many raises RuntimeError the first time `when(calls)` holds."""
    original = AsyncRedisBroker.run_many
    raised = []

    async def run_many(self, calls):
        if not raised and when(calls):
            raised.append([c.script for c in calls])
            raise RuntimeError("an error nobody foresaw")
        return await original(self, calls)

    monkeypatch.setattr(AsyncRedisBroker, "run_many", run_many)
    return raised


def test_the_claim_loop_survives_an_unexpected_error(monkeypatch, background_worker, broker):
    raised = fail_once(monkeypatch, lambda calls: calls[-1].script == "claim_tasks")
    background_worker()
    handle = tasks.echo.enqueue("still here")
    assert handle.result(timeout=15) == "still here"
    assert raised


def test_the_report_loop_survives_an_unexpected_error(monkeypatch, background_worker, broker):
    raised = fail_once(monkeypatch, lambda calls: calls[0].script == "complete_tasks")
    background_worker()
    first = tasks.echo.enqueue("first")
    wait_for(lambda: raised, 15, "the failed report")
    second = tasks.echo.enqueue("second")
    assert second.result(timeout=15) == "second"
    wait_for(lambda: broker.get("default", first.id).status == Status.COMPLETED, 15)
