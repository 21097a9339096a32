"""Turning one call of a task into a NewTask: its declared and per-enqueue options, and
their validation and serialisation. Nothing reaches Redis before these pass."""

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import options as check
from .conf import get_config
from .encryption import encrypt_call
from .errors import PayloadTooLarge, ValidationError
from .priority import band_of, level_of
from .records import NewTask
from .serialization import check_kwargs_keys, dumps

_UNSET: Any = object()
_V4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))  # the version and variant bits...
_V4_SET = (0x4000 << 64) | (0x8000 << 48)  # ...of a random UUID (RFC 9562, version 4)


def new_task_id() -> str:
    """A random (version 4) UUID as text, the same as str(uuid.uuid4()) but in half its
    time: 3.5 µs a task of a 10,000-member group's submission went to making ids."""
    h = "%032x" % (int.from_bytes(os.urandom(16)) & _V4_CLEAR | _V4_SET)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True)
class TaskOptions:
    """Declared options; None means 'the TASKQUEUE default at enqueue time'."""

    queue: str | None = None
    priority: int | None = None
    max_retries: int | None = None
    timeout: float | None = _UNSET
    retry_backoff: float | None = None
    retry_backoff_max: float | None = None
    retry_jitter: bool = True
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    dont_retry_on: tuple[type[BaseException], ...] = ()
    cron: str | None = None
    # flow control (docs/flow-control.md): for all workers together, in every queue
    rate_limit: str | int | None = None  # "100/s", "3/m", "1000/h"; a number: per second
    rate_burst: int | None = None  # tasks that may start at once after a quiet spell
    concurrency_limit: int | None = None  # tasks of this name running at once
    # encryption at rest (docs/tasks.md#encrypted-arguments): True (every argument) or
    # parameter names; and whether the return value is stored encrypted
    encrypt: bool | tuple[str, ...] = False
    encrypt_result: bool = False


@dataclass(frozen=True)
class EnqueueOptions:
    """Per-enqueue overrides given to Task.using()."""

    queue: str | None = None
    priority: int | None = None
    delay: Any = None
    eta: datetime | None = None
    idempotency_key: str | None = None
    max_retries: int | None = None
    timeout: Any = _UNSET
    level: int | None = None  # an internal level 0..200 (the django.tasks backend uses it)
    meta: dict = field(default_factory=dict)
    depends_on: Any = ()  # handles or ids of tasks to wait for (docs/workflows.md)
    tenant: str | None = None  # whose task: fair share in its queue (docs/flow-control.md)


PLAIN = EnqueueOptions()  # a task's own options, nothing overridden (shared: frozen)


def build_task(task, args: list, kwargs: dict, opts: EnqueueOptions, fed: int = 0) -> NewTask:
    """One call as a NewTask. `fed`: positional arguments a workflow puts before `args`
    at run time (its parents' results), for @task(encrypt=[names]) to find each name."""
    if opts.depends_on:
        raise ValidationError(
            "depends_on= is given to .enqueue() (it creates a workflow), not to "
            ".prepare() or enqueue_many().",
            field="depends_on",
        )
    cfg, declared = get_config(), task.options
    if declared.encrypt:  # the values chosen leave this process encrypted
        args, kwargs = encrypt_call(task, args, kwargs, fed)
    args_json, kwargs_json = payload(task.name, args, kwargs, cfg.MAX_PAYLOAD_BYTES)
    priority = check.validate_priority(
        _first(opts.priority, declared.priority, cfg.DEFAULT_PRIORITY)
    )
    level = level_of(priority) if opts.level is None else opts.level
    timeout = opts.timeout if opts.timeout is not _UNSET else declared.timeout
    return NewTask(
        id=new_task_id(),
        name=task.name,
        queue=check.validate_queue_name(_first(opts.queue, declared.queue, cfg.DEFAULT_QUEUE)),
        args=args_json,
        kwargs=kwargs_json,
        priority=priority,
        band=band_of(level),
        max_retries=check.max_retries(
            _first(opts.max_retries, declared.max_retries, cfg.MAX_RETRIES)
        ),
        timeout=check.timeout(cfg.TIMEOUT if timeout is _UNSET else timeout),
        delay_ms=0 if opts.delay is None else check.delay_ms(opts.delay),
        eta_ms=0 if opts.eta is None else check.eta_ms(opts.eta, datetime.now(UTC)),
        idempotency_key=""
        if opts.idempotency_key is None
        else check.idempotency_key(opts.idempotency_key),
        meta=dumps(opts.meta, what="meta") if opts.meta else "",
        tenant="" if opts.tenant is None else check.tenant(opts.tenant),
    )


def payload(name: str, args: list, kwargs: dict, limit: int) -> tuple[str, str]:
    """A call's args and kwargs as JSON, checked: JSON only, keys that are strings,
    at most `limit` bytes together."""
    check_kwargs_keys(kwargs)
    args_json = dumps(args, what="args")
    kwargs_json = dumps(kwargs, what="kwargs") if kwargs else "{}"
    size = _utf8_size(args_json) + _utf8_size(kwargs_json)
    if size > limit:
        raise PayloadTooLarge(
            f"args and kwargs of {name} are {size} bytes as JSON; the limit is "
            f"{limit} (TASKQUEUE['MAX_PAYLOAD_BYTES']).",
            field="args",
        )
    return args_json, kwargs_json


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


def like(template: NewTask, task, args: list, kwargs: dict, limit: int, fed: int = 0) -> NewTask:
    """Another call of `task` with `template`'s options (already checked): a new id,
    these arguments, every option the same. What a workflow does for its many calls of
    one signature's task."""
    if task.options.encrypt:
        args, kwargs = encrypt_call(task, args, kwargs, fed)
    args_json, kwargs_json = payload(template.name, args, kwargs, limit)
    t = template
    return NewTask(
        new_task_id(), t.name, t.queue, args_json, kwargs_json, t.priority, t.band,
        t.max_retries, t.timeout, t.delay_ms, t.eta_ms, t.idempotency_key, t.meta,
        tenant=t.tenant,
    )  # fmt: skip


def _first(*values):
    return next(v for v in values if v is not None)
