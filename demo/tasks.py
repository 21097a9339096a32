"""Example tasks, so a fresh install has something to run and look at
(`python manage.py demo` enqueues a mix of them). Leave the demo out of a deployment
with TASKQUEUE_DEMO=0."""

import asyncio
import random
import time

from taskqueue import current_task, task


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


@task(queue="low")
def export(rows: int = 20, seconds_per_row: float = 0.25) -> dict:
    """Reports its progress as it goes: the console shows it while the task runs."""
    ctx = current_task()
    for done in range(rows):
        if ctx is not None:
            ctx.raise_if_cancelled()
            ctx.report_progress({"done": done, "total": rows})
        time.sleep(seconds_per_row)
    return {"rows": rows}


@task(queue="default")
def send_welcome(to: str, password: str = "", api_key: str = "") -> str:
    """Takes secrets as arguments: the console masks them."""
    return f"welcomed {to}"


@task(cron="* * * * *", queue="low")
def heartbeat_report() -> dict:
    """A periodic task: workers enqueue it once a minute (exactly once per tick)."""
    return {"at": time.time()}


# -- the example workflow (traffic.pipeline): render pages, then bundle them ------------


@task
def render_page(page: int) -> str:
    time.sleep(0.05 + (page % 3) * 0.05)
    return f"page-{page}.png"


@task(queue="low")
def bundle(pages: list, name: str) -> dict:
    return {"bundle": name, "pages": len(pages)}


@task
def publish(summary: dict) -> str:
    return f"published {summary.get('bundle')} ({summary.get('pages')} pages)"
