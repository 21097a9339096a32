"""The tasks catalogue (issue 21): every task this process has registered, as its code
declares it - signature, docstring, queue, priority, retry policy, time limit, declared
limits and the limits in force now - and, on each task's own page, its payload's JSON
Schema (taskqueue.payloads: the one the API's OpenAPI document lists).
/catalogue/ lists them (searchable by name); /catalogue/<name>/ is one task.

Definitions are code, not data: every viewer sees every task (the public OpenAPI
document lists their schemas too). The limits in force are read per queue (one read
each, as the queue page does), and only of the queues the user may see (access.py)."""

import inspect
import json
from dataclasses import dataclass, field

from django.http import Http404, HttpRequest, HttpResponse

from taskqueue import inspect as reads
from taskqueue.building import _UNSET
from taskqueue.conf import Config, get_config
from taskqueue.definition import Task
from taskqueue.errors import ValidationError
from taskqueue.flow import QueueLimits
from taskqueue.limits import Rate, parse_rate
from taskqueue.payloads import payload_of, validates
from taskqueue.registry import registry

from . import fragments
from .access import QueueScope, queue_scope, viewer_required
from .views import page, text

MAX_QUERY = 200  # characters of a search kept
UNREADABLE = "(its signature cannot be read)"


@dataclass
class Entry:
    """One registered task as the catalogue shows it; a value the task does not declare
    is the TASKQUEUE default (`*_default` says so)."""

    name: str
    path: str
    signature: str
    summary: str  # the docstring's first paragraph
    doc: str  # the whole docstring, indented as written
    is_async: bool
    queue: str
    queue_default: bool
    priority: int
    priority_default: bool
    max_retries: int
    retries_default: bool
    backoff: str  # "1 s doubling, at most 600 s, with jitter"
    retry_on: str  # "" when it is every Exception and no exclusion
    timeout: float | None
    timeout_default: bool
    rate: Rate | None  # declared with @task(rate_limit=...)
    concurrency: int | None
    cron: str | None
    validated: bool
    in_force: list = field(default_factory=list)  # (queue, ScopeLimits) read now


def signature_of(task: Task) -> str:
    """The task as called, in Python: `send(to, subject='')` (without the `self` of a
    bind=True task, which the worker fills)."""
    try:
        sig = inspect.signature(task.func)
    except (TypeError, ValueError):
        return f"{task.__name__}{UNREADABLE}"
    params = list(sig.parameters.values())[getattr(task, "hidden_params", 0) :]
    prefix = "async " if task.is_async else ""
    return f"{prefix}{task.__name__}{sig.replace(parameters=params)}"


def doc_parts(task: Task) -> tuple[str, str]:
    """(first paragraph as one line, whole docstring) of the task's function."""
    doc = inspect.cleandoc(task.__doc__) if isinstance(task.__doc__, str) else ""
    first = doc.split("\n\n", 1)[0]
    return " ".join(first.split()), doc


def _exceptions(classes: tuple) -> str:
    return ", ".join(c.__name__ for c in classes)


def retry_policy(task: Task, config: Config) -> tuple[str, str]:
    """(the backoff, the exceptions retried when not all) as the worker applies them
    (taskqueue/worker/retry.py)."""
    opts = task.options
    base = opts.retry_backoff if opts.retry_backoff is not None else config.RETRY_BACKOFF
    cap = opts.retry_backoff_max if opts.retry_backoff_max is not None else config.RETRY_BACKOFF_MAX
    shape = "with jitter" if opts.retry_jitter else "exactly"
    backoff = f"{base:g} s doubling, at most {cap:g} s, {shape}"
    on = "" if opts.retry_on == (Exception,) else f"on {_exceptions(opts.retry_on)}"
    if opts.dont_retry_on:
        on = f"{on + '; ' if on else ''}not on {_exceptions(opts.dont_retry_on)}"
    return backoff, on


def _declared_rate(task: Task) -> Rate | None:
    if task.options.rate_limit is None:
        return None
    try:
        return parse_rate(task.options.rate_limit, task.options.rate_burst)
    except ValidationError:  # checked by @task already; shown as none if it ever is not
        return None


def entry_of(task: Task, config: Config | None = None) -> Entry:
    config = config or get_config()
    opts = task.options
    summary, doc = doc_parts(task)
    backoff, retry_on = retry_policy(task, config)
    timeout_default = opts.timeout is _UNSET
    return Entry(
        name=task.name,
        path=task.path,
        signature=signature_of(task),
        summary=summary,
        doc=doc,
        is_async=task.is_async,
        queue=opts.queue or config.DEFAULT_QUEUE,
        queue_default=opts.queue is None,
        priority=opts.priority if opts.priority is not None else config.DEFAULT_PRIORITY,
        priority_default=opts.priority is None,
        max_retries=opts.max_retries if opts.max_retries is not None else config.MAX_RETRIES,
        retries_default=opts.max_retries is None,
        backoff=backoff,
        retry_on=retry_on,
        timeout=config.TIMEOUT if timeout_default else opts.timeout,
        timeout_default=timeout_default,
        rate=_declared_rate(task),
        concurrency=opts.concurrency_limit,
        cron=opts.cron,
        validated=validates(task, config),
    )


def in_force(entries: list[Entry], scope: QueueScope) -> None:
    """Fill each entry's limits in force now: its task name's scope in every queue the
    user may see that has one (a limit, an operator's value, tasks held or running)."""
    by_name = {e.name: e for e in entries}
    if not by_name:
        return  # nothing to read for
    for queue in scope.visible(reads.queues()):
        limits: QueueLimits | None = fragments.queue_limits(queue)
        for name, scoped in (limits.tasks if limits else {}).items():
            if name in by_name:
                by_name[name].in_force.append((queue, scoped))


def matching(query: str) -> list[Task]:
    """The registered tasks whose name holds `query` (any case), by name."""
    wanted = query.casefold()
    return sorted((t for t in registry if wanted in t.name.casefold()), key=lambda t: t.name)


@viewer_required
def catalogue(request: HttpRequest) -> HttpResponse:
    query = text(request, "q", MAX_QUERY)
    config = get_config()
    entries = [entry_of(t, config) for t in matching(query)]
    in_force(entries, queue_scope(request.user))
    context = {"section": "catalogue", "entries": entries, "q": query, "total": len(registry)}
    context["live"] = False  # nothing on it changes by itself
    return page(request, "dashboard/catalogue.html", context, partial="catalogue-list")


@viewer_required
def catalogue_task(request: HttpRequest, name: str) -> HttpResponse:
    if name not in registry:
        raise Http404("No such task")
    task = registry.get(name)
    entry = entry_of(task)
    in_force([entry], queue_scope(request.user))
    context = {"section": "catalogue", "entry": entry, "schema": schema_text(task)}
    context["live"] = False
    return page(request, "dashboard/catalogue_detail.html", context, partial="catalogue-entry")


def schema_text(task: Task) -> str:
    """The payload's JSON Schema, indented (escaped by the template like any text); a
    note when the signature cannot be read."""
    try:
        schema = payload_of(task).json_schema()
    except Exception as exc:  # a type pydantic cannot describe (as api/openapi_payloads.py)
        return f"(no schema: {type(exc).__name__})"
    return json.dumps(schema, indent=2, ensure_ascii=False, default=str)
