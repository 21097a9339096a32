"""The workers' archive loop: how long it waits after the database refused it."""

import asyncio
import time

import pytest
from django.db import OperationalError, connection

from taskqueue import archive
from taskqueue.models import TaskArchive
from taskqueue.worker import maintenance

pytestmark = pytest.mark.django_db(transaction=True)  # the loop uses the DB in a thread
real_sleep = asyncio.sleep


@pytest.fixture
def pauses(monkeypatch) -> list[float]:
    """The pauses the loop asks for, each actually slept as 10 ms so tests run fast."""
    asked: list[float] = []

    async def recorded(seconds, *args, **kwargs):
        asked.append(seconds)
        await real_sleep(min(seconds, 0.01))

    monkeypatch.setattr(maintenance.asyncio, "sleep", recorded)
    return asked


async def loop_until(condition, timeout: float = 10.0) -> None:
    """Run archive_loop (interval 0.05 s) until `condition()` holds; fail after timeout."""
    loop = asyncio.create_task(maintenance.archive_loop(0.05))
    deadline = time.monotonic() + timeout
    try:
        while not condition():
            assert not loop.done(), "archive_loop ended"
            if time.monotonic() > deadline:
                pytest.fail(f"archive_loop: no {condition.__doc__} within {timeout} s")
            await real_sleep(0.005)
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)


def test_a_transient_database_error_only_delays_archiving_one_interval(broker, monkeypatch, pauses):
    calls = []

    def locked_once():
        calls.append(None)
        if len(calls) == 1:
            raise OperationalError("database is locked")
        return 0

    monkeypatch.setattr(archive, "archive_if_due", locked_once)

    def tried_again():
        """second attempt"""
        return len(calls) >= 2

    asyncio.run(loop_until(tried_again))
    assert max(pauses) < 1.0, pauses


@pytest.fixture
def archive_table_dropped():
    """The archive's table really gone (as before `migrate`), and back afterwards."""
    with connection.schema_editor() as editor:
        editor.delete_model(TaskArchive)
    yield
    with connection.schema_editor() as editor:
        editor.create_model(TaskArchive)


def test_archiving_waits_ten_minutes_while_the_table_is_not_migrated(
    broker, archive_table_dropped, pauses
):
    def long_pause():
        """long pause"""
        return any(p >= maintenance.NOT_MIGRATED_PAUSE_S for p in pauses)

    asyncio.run(loop_until(long_pause))
