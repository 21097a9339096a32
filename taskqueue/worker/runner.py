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
from dataclasses import dataclass

from django.db import close_old_connections

from .. import tracing
from ..conf import Config
from ..context import TaskContext, activate, deactivate
from ..definition import Task
from ..encryption import Undecryptable, decrypt_call, encrypt_result, might_hold
from ..errors import PayloadInvalid, SerializationError, TaskCancelled, TaskNotFound, TaskTimeout
from ..payloads import check_call, checked_at_enqueue
from ..records import Claimed, TaskError
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
    error: TaskError | None = None
    retry_delay_ms: int | None = None
    runtime_s: float = 0.0
    span: str = ""  # completed, tracing on: its span's W3C traceparent, recorded with it


class InvalidTaskRecord(Exception):
    """The claimed record cannot be run as it is."""


@dataclass(eq=False)
class Running:
    """A task this worker holds: claimed, running, or finished and awaiting its report."""

    claimed: Claimed
    ctx: TaskContext
    task: Task | None = None
    future: asyncio.Future | None = None  # the coroutine running an async body
    timer: asyncio.TimerHandle | None = None  # a sync body's time limit
    started: bool = False
    finished: bool = False  # its outcome is decided (a sync body may still be running)
    started_wall: float = 0.0  # time.time() at start (the supervisor's hard limit uses it)
    stop_reason: str = ""  # cancel, lost, shutdown, timeout
    trace: object = None  # the attempt's span (tracing.py); None when tracing is off
    parents: tuple = ()  # (task id, traceparent) its span links to (links.py)


class Runner:
    """Turns a claimed task into a call, and what the call did into an Outcome."""

    def __init__(self, registry: Registry, config: Config):
        self.registry = registry
        self.config = config

    def prepare(self, running: Running) -> tuple[Task, list, dict]:
        c = running.claimed
        if tracing.enabled:  # off: this one test (docs/observability.md)
            running.trace = tracing.start(c, running.parents)
        try:
            task = self.registry.get(c.name)
        except TaskNotFound as exc:
            raise InvalidTaskRecord(str(exc)) from None
        running.task = task
        if c.problem:
            raise InvalidTaskRecord(c.problem)
        self._check_payload(c.args or "", c.kwargs or "")
        try:
            args, kwargs = json.loads(c.args or "[]"), json.loads(c.kwargs or "{}")
        except (ValueError, RecursionError):
            raise InvalidTaskRecord("args or kwargs are not valid JSON") from None
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise InvalidTaskRecord("args must be a JSON array and kwargs a JSON object")
        if not all(isinstance(k, str) and k.isidentifier() for k in kwargs):
            raise InvalidTaskRecord("kwargs keys must be identifiers")
        decrypted = might_hold(c.args, c.kwargs) or task.options.encrypt_result
        if decrypted:  # the values as the producer checked them (encryption.py)
            args, kwargs = self._decrypted(task, args, kwargs)
        if not checked_at_enqueue(task, c.args or "", c.kwargs or "", c.meta):
            self._check_arguments(task, args, kwargs, secret=bool(decrypted))
        return task, args, kwargs

    def _decrypted(self, task: Task, args: list, kwargs: dict) -> tuple[list, dict]:
        """Encrypted arguments decrypted; a task this worker cannot decrypt (or whose
        result it could not encrypt) is dead-lettered, never run with garbage."""
        if task.options.encrypt_result and not self.config.ENCRYPTION_KEYS:
            raise InvalidTaskRecord(
                f"{task.name} has encrypt_result=True and this worker has no "
                "TASKQUEUE['ENCRYPTION_KEYS']: not run"
            )
        try:
            return decrypt_call(args, kwargs, self.config)
        except Undecryptable as exc:
            raise InvalidTaskRecord(f"{exc}: not run") from None

    def _check_arguments(self, task: Task, args: list, kwargs: dict, secret=False) -> None:
        """The enqueue's check of the arguments against the task's signature and type
        hints, again (an older producer, or a record written straight into Redis; not
        when the producer's seal says it checked these arguments: payloads.py): a
        mismatch is dead-lettered with it as the reason. The check is cached per task.
        `secret`: the arguments were encrypted, so the reason names no values."""
        try:
            check_call(task, args, kwargs, self.config)
        except PayloadInvalid as exc:
            if secret:
                where = ", ".join(exc.fields)
                raise InvalidTaskRecord(
                    f"Invalid arguments for {task.name} at {where} (values not shown: "
                    "the task's arguments are encrypted)"
                ) from None
            raise InvalidTaskRecord(str(exc)) from None
        except Exception:  # a check that breaks never stops a task the producer checked
            log.exception("task %.200s: its arguments could not be checked", task.name)

    def _check_payload(self, args: str, kwargs: str) -> None:
        """What the producer refuses at enqueue, refused again: a record written
        straight into Redis has not been through it."""
        limit = self.config.MAX_PAYLOAD_BYTES
        if len(args) + len(kwargs) > limit // 4:  # only then can the UTF-8 size matter
            try:
                size = len(args.encode()) + len(kwargs.encode())
            except UnicodeEncodeError:  # undecodable bytes, kept by the client as surrogates
                raise InvalidTaskRecord("args or kwargs are not valid UTF-8") from None
            if size > limit:
                raise InvalidTaskRecord(
                    f"args and kwargs are {size} bytes as JSON, more than "
                    f"TASKQUEUE['MAX_PAYLOAD_BYTES'] ({limit})"
                )
        elif not (args + kwargs).isascii():
            try:
                (args + kwargs).encode()
            except UnicodeEncodeError:
                raise InvalidTaskRecord("args or kwargs are not valid UTF-8") from None

    async def run_async(self, running: Running, task: Task, args, kwargs) -> Outcome:
        """Run an `async def` body on the loop, cancelled at its time limit."""
        token = activate(running.ctx)
        scope = tracing.enter(running.trace) if running.trace is not None else None
        started = time.perf_counter()
        try:
            close_old_connections()
            async with asyncio.timeout(running.claimed.timeout):
                result = await task.func(*args, **kwargs)
            outcome = self.outcome(running, result, None)
        except TimeoutError:
            running.stop_reason = running.stop_reason or "timeout"
            error = TaskTimeout(f"timed out after {running.claimed.timeout} s")
            outcome = self.outcome(running, None, error)
        except BaseException as exc:  # every way a task can end is an outcome
            outcome = self.outcome(running, None, exc)
        finally:
            if scope is not None:
                tracing.leave(scope)
            deactivate(token)
        outcome.runtime_s = time.perf_counter() - started
        return outcome

    def outcome(self, running: Running, result, error: BaseException | None) -> Outcome:
        outcome = self._outcome(running, result, error)
        if running.trace is not None:
            outcome.span = tracing.end(
                running.trace, outcome, running.stop_reason, running.claimed.timeout
            )
        return outcome

    def _outcome(self, running: Running, result, error: BaseException | None) -> Outcome:
        if error is None:
            try:
                text = dumps(result, what="the return value")
                if running.task is not None and running.task.options.encrypt_result:
                    text = encrypt_result(running.task, text, self.config)
                return Outcome("completed", result=text)
            except SerializationError as exc:
                error = exc
        return self._failure(running, error)

    def timed_out(self, running: Running) -> Outcome:
        """A sync body past its limit: failed now; its thread runs on until it returns."""
        running.stop_reason = running.stop_reason or "timeout"  # raise_if_cancelled() raises
        error = TaskTimeout(
            f"timed out after {running.claimed.timeout} s (the thread runs on until it returns)"
        )
        outcome = self._failed(running, error)
        if running.trace is not None:
            tracing.end(running.trace, outcome, running.stop_reason, running.claimed.timeout)
        return outcome

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


def describe(exc: BaseException) -> TaskError:
    """An exception as a TaskError, sizes bounded."""
    kind = type(exc).__name__ if isinstance(exc, InvalidTaskRecord) else _qualified(type(exc))
    message = _safe_str(exc)[:MAX_MESSAGE]
    trace = "".join(tb.format_exception(exc))[-MAX_TRACEBACK:]
    return TaskError(kind, message, trace)


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
        log.error("task %.100s (%.200s) failed: %s: %.500s", c.id, c.name, error[0], error[1])
    else:
        log.warning(
            "task %.100s (%.200s) failed, retry in %.1f s: %s: %.500s",
            c.id,
            c.name,
            delay / 1000,
            error[0],
            error[1],
        )
