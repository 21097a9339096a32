"""Running one claimed task and turning what happened into an Outcome.

Redis contents are not trusted: a record with an unknown task name, arguments that are
not JSON of the right shape, or anything else malformed fails without retry (it goes
to the dead-letter queue with the reason) and nothing is imported or evaluated.
"""

import asyncio
import json
import logging
import time
import traceback as tb
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.db import close_old_connections

from ..conf import Config
from ..context import TaskContext, activate, deactivate
from ..definition import Task
from ..errors import SerializationError, TaskCancelled, TaskNotFound, TaskTimeout
from ..records import Claimed
from ..registry import Registry
from ..serialization import dumps
from .retry import retry_delay_ms

log = logging.getLogger("taskqueue.worker")
MAX_MESSAGE = 2000
MAX_TRACEBACK = 16_000


@dataclass(slots=True)
class Outcome:
    kind: str  # completed, failed, cancelled, abandoned (lost lease or shutdown: no report)
    result: str = ""  # JSON, for completed
    error: tuple[str, str, str, str] | None = None  # type, message, traceback, JSON of the three
    retry_delay_ms: int | None = None
    runtime_s: float = 0.0


class InvalidTaskRecord(Exception):
    """The claimed record cannot be run as it is."""


@dataclass(eq=False)
class Running:
    """A task this worker holds: claimed, running, or finished and awaiting its report."""

    claimed: Claimed
    ctx: TaskContext
    task: Task | None = None
    future: asyncio.Future | None = None
    threaded: bool = False  # its body was handed to a pool thread
    started_wall: float = 0.0  # time.time() at start (the supervisor's hard limit uses it)
    stop_reason: str = ""  # cancel, lost, shutdown, timeout


class Runner:
    def __init__(self, registry: Registry, config: Config, pool: ThreadPoolExecutor):
        self.registry = registry
        self.config = config
        self.pool = pool

    async def run(self, running: Running, on_thread_done: Callable[[], None]) -> Outcome:
        started = time.perf_counter()
        try:
            task, args, kwargs = self.prepare(running)
            if task.is_async:
                result = await self._run_async(running, task, args, kwargs)
            else:
                result = await self._run_sync(running, task, args, kwargs, on_thread_done)
            outcome = Outcome("completed", result=self._result_json(result))
        except BaseException as exc:
            outcome = self._failure(running, exc)
        outcome.runtime_s = time.perf_counter() - started
        return outcome

    def prepare(self, running: Running) -> tuple[Task, list, dict]:
        c = running.claimed
        try:
            task = self.registry.get(c.name)
        except TaskNotFound as exc:
            raise InvalidTaskRecord(str(exc)) from None
        running.task = task
        try:
            args, kwargs = json.loads(c.args or "[]"), json.loads(c.kwargs or "{}")
        except (ValueError, RecursionError):
            raise InvalidTaskRecord("args or kwargs are not valid JSON") from None
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise InvalidTaskRecord("args must be a JSON array and kwargs a JSON object")
        if not all(isinstance(k, str) and k.isidentifier() for k in kwargs):
            raise InvalidTaskRecord("kwargs keys must be identifiers")
        return task, args, kwargs

    async def _run_async(self, running: Running, task: Task, args, kwargs):
        token = activate(running.ctx)
        try:
            close_old_connections()
            async with asyncio.timeout(running.claimed.timeout):
                return await task.func(*args, **kwargs)
        except TimeoutError:
            running.stop_reason = running.stop_reason or "timeout"
            raise TaskTimeout(f"timed out after {running.claimed.timeout} s") from None
        finally:
            deactivate(token)

    async def _run_sync(self, running: Running, task: Task, args, kwargs, on_thread_done):
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.pool, _call_sync, running.ctx, task.func, args, kwargs)
        running.threaded = True
        future.add_done_callback(lambda f: _settled(f, on_thread_done))
        try:
            return await asyncio.wait_for(asyncio.shield(future), running.claimed.timeout)
        except TimeoutError:
            running.stop_reason = running.stop_reason or "timeout"  # raise_if_cancelled() raises
            raise TaskTimeout(
                f"timed out after {running.claimed.timeout} s (the thread runs on until it returns)"
            ) from None

    def _result_json(self, result) -> str:
        return dumps(result, what="the return value")

    def _failure(self, running: Running, exc: BaseException) -> Outcome:
        reason = running.stop_reason
        if reason in ("lost", "shutdown") and isinstance(
            exc, (asyncio.CancelledError, TaskCancelled)
        ):
            return Outcome("abandoned")
        if isinstance(exc, (asyncio.CancelledError, TaskCancelled)) and running.ctx.cancelled:
            return Outcome("cancelled") if reason != "timeout" else self._failed(running, exc)
        if isinstance(exc, asyncio.CancelledError):
            exc = TaskCancelled("the task was cancelled from inside")
        return self._failed(running, exc)

    def _failed(self, running: Running, exc: BaseException) -> Outcome:
        if isinstance(exc, TaskCancelled) and running.stop_reason == "timeout":
            exc = TaskTimeout(f"timed out after {running.claimed.timeout} s")
        error = describe(exc)
        c, delay = running.claimed, None
        retryable = not isinstance(exc, (InvalidTaskRecord, SerializationError))
        if retryable and c.failures < c.max_retries:
            delay = retry_delay_ms(running.task, exc, c.failures, self.config)
        log_failure(running, error, delay)
        return Outcome("failed", error=error, retry_delay_ms=delay)


def _settled(future: asyncio.Future, then: Callable[[], None]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: a late failure of an abandoned thread is not news
    then()


def _call_sync(ctx: TaskContext, func, args, kwargs):
    token = activate(ctx)
    close_old_connections()
    try:
        return func(*args, **kwargs)
    finally:
        close_old_connections()
        deactivate(token)


def describe(exc: BaseException) -> tuple[str, str, str, str]:
    """(type, message, traceback, JSON of the three) of an exception, sizes bounded."""
    kind = type(exc).__name__ if isinstance(exc, InvalidTaskRecord) else _qualified(type(exc))
    message = _safe_str(exc)[:MAX_MESSAGE]
    trace = "".join(tb.format_exception(exc))[-MAX_TRACEBACK:]
    return kind, message, trace, dumps({"type": kind, "message": message, "traceback": trace})


def _qualified(cls: type) -> str:
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return f"<unprintable {type(exc).__name__}>"


def log_failure(running: Running, error, delay: int | None) -> None:
    c = running.claimed
    if delay is None:
        log.error("task %s (%s) failed: %s: %s", c.id, c.name, error[0], error[1])
    else:
        log.warning(
            "task %s (%s) failed, retry in %.1f s: %s: %s",
            c.id,
            c.name,
            delay / 1000,
            error[0],
            error[1],
        )
