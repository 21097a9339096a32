"""Example tasks, so a fresh install has something to run and look at.
Leave the demo out of a deployment with TASKQUEUE_DEMO=0."""

import asyncio
import random
import time

from taskqueue import task


@task(queue="high", priority=8)
def fast(n: int = 0) -> int:
    """Returns at once."""
    return n * 2


@task
def slow(seconds: float = 2.0) -> str:
    """Sleeps, like a task that waits on a slow service."""
    time.sleep(seconds)
    return f"slept {seconds} s"


@task(max_retries=4, retry_backoff=0.5)
def flaky(failure_rate: float = 0.5) -> str:
    """Fails at random; retried with backoff."""
    if random.random() < failure_rate:
        raise ConnectionError("the upstream service timed out (simulated)")
    return "ok"


@task(queue="low", max_retries=2, retry_backoff=0.5)
def always_fails(reason: str = "boom") -> None:
    """Always raises: ends in the dead-letter queue."""
    raise ValueError(f"this task always fails: {reason}")


@task
async def fetch(delay: float = 0.2) -> dict:
    """An async task: runs on the worker's event loop."""
    await asyncio.sleep(delay)
    return {"fetched": True, "delay": delay}
