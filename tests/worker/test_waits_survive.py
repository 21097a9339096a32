"""The worker's blocking waits survive any error, not only an unreachable Redis.

Seen in the fault suite (R8): when the peer resets a connection, redis.asyncio can
raise AttributeError out of the stream's writelines() (Python 3.13.0) instead of a
ConnectionError. Raised out of the wait for work it ended the fetch loop (a live
worker that claims nothing); out of the maintenance sleep it ended maintenance (no
promotion, no reaping)."""

from taskqueue.broker.async_broker import AsyncRedisBroker
from tests.support.waits import wait_for
from tests.taskapp import tasks


def fail_once(monkeypatch, name: str) -> list:
    """AsyncRedisBroker.<name> raises AttributeError the first time it is called."""
    original = getattr(AsyncRedisBroker, name)
    raised = []

    async def patched(self, *args, **kwargs):
        if not raised:
            raised.append(name)
            raise AttributeError("'NoneType' object has no attribute '_add_writer'")
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(AsyncRedisBroker, name, patched)
    return raised


def test_the_wait_for_work_survives_an_unexpected_error(monkeypatch, background_worker):
    raised = fail_once(monkeypatch, "wait_for_work")
    background_worker()
    wait_for(lambda: raised, 10, "the failed wait")  # the queue was empty: it waited
    handle = tasks.echo.enqueue("still claiming")
    assert handle.result(timeout=15) == "still claiming"
    assert raised


def test_the_maintenance_sleep_survives_an_unexpected_error(monkeypatch, background_worker):
    raised = fail_once(monkeypatch, "wait_for_timer")
    background_worker()
    wait_for(lambda: raised, 10, "the failed sleep")
    handle = tasks.echo.using(delay=1).enqueue("promoted")
    assert handle.result(timeout=15) == "promoted"
    assert raised
