"""django.tasks tasks the backend's tests run (tests/djangotasks/); imported by tasks.py,
so the worker finds them the way it finds every app's tasks."""

import asyncio
import time

from django.tasks import task

from taskqueue import current_task

from .tasks import note


@task
def add(a, b):
    return a + b


@task
async def aadd(a, b):
    await asyncio.sleep(0)
    return a + b


@task(priority=0)
def mark(tag: str) -> str:
    note(tag)
    return tag


@task
def slow_mark(seconds: float, tag: str) -> str:
    note(f"start:{tag}")
    time.sleep(seconds)
    return tag


@task
def normalised():
    return (1, b"bytes", {"nested": (2, 3)})


@task(takes_context=True)
def about_me(context, tag: str = ""):
    result = context.task_result
    return {
        "id": result.id,
        "attempt": context.attempt,
        "status": result.status,
        "worker_ids": result.worker_ids,
        "priority": result.task.priority,
        "tag": tag,
    }


@task(takes_context=True)
async def aabout_me(context):
    return {"id": context.task_result.id, "attempt": context.attempt}


@task(max_retries=0)
def fails(message: str = "boom"):
    raise ValueError(message)


@task(max_retries=0)
async def afails(message: str = "boom"):
    raise ValueError(message)


@task(max_retries=1, retry_backoff=0.01, retry_jitter=False, takes_context=True)
def fails_once(context):
    if context.attempt == 1:
        raise ConnectionError("the first attempt fails")
    return context.attempt


@task(max_retries=2, retry_backoff=0.01, retry_jitter=False)
def always_fails():
    raise KeyError("every time")


@task(max_retries=3, dont_retry_on=(LookupError,))
def not_retried():
    raise KeyError("no point retrying")


@task(max_retries=0)
def exits():
    raise SystemExit(3)


class Opaque:
    """An exception argument that neither JSON nor repr-as-JSON can carry."""

    def __repr__(self) -> str:
        return "<Opaque>"


@task(max_retries=0)
def raises_opaque():
    raise ValueError(Opaque(), {1, 2})


@task(max_retries=3)
def returns_object():
    return Opaque()


@task(max_retries=3)
def returns_nan():
    return float("nan")


@task(timeout=0.2, max_retries=0)
async def too_slow():
    await asyncio.sleep(30)


@task
def waits_for_cancel(tag: str = ""):
    note(f"start:{tag}")
    ctx = current_task()
    while True:
        ctx.raise_if_cancelled()
        ctx.cancel_event.wait(0.05)
