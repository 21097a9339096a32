"""The console's pages. Each one template renders the whole page, or for an htmx
request just its `#listing` (or named) partial. Reads go through taskqueue.inspect only.

A user limited to queues (access.py: queue_scope) sees only those: another queue's
page or task is a 404, listings and counts leave other queues out."""

import json
from dataclasses import replace
from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from taskqueue import inspect
from taskqueue.archive import ARGS_SCAN as ARCHIVE_ARGS_SCAN
from taskqueue.archive import archived_by_prefix, archived_with_arguments
from taskqueue.errors import ValidationError
from taskqueue.history import SPANS, check_span
from taskqueue.inspect import TaskFilter
from taskqueue.status import Status
from taskqueue.workers import LOST_AFTER_S

from . import errors, fragments, health, workflow_fragments
from .access import (
    QueueScope,
    can_operate,
    queue_scope,
    viewer_required,
    visible_queue,
    visible_task,
)
from .worker_actions import may_command

PAGE_SIZE = 50
ARCHIVE_MATCHES = 20  # archived tasks listed under a search by id prefix
# Tabs listed in run order (inspect.list_tasks): a new task joins the end, so a first
# page with later pages gets no "N new" bar (the others list newest first).
RUN_ORDER = ("pending", "scheduled", "processing", "waiting")


def page(
    request: HttpRequest, template: str, context: dict, *, partial: str = "listing", status=200
) -> HttpResponse:
    """Render the page, or only `partial` for an htmx request (not a history restore)."""
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.history_restore_request:
        template = f"{template}#{partial}"
    context = {
        "live": True,
        "can_operate": can_operate(request.user),
        "queues_limited": queue_scope(request.user).limited,  # no workflow links then
    } | context
    return render(request, template, context, status=status)


def text(request: HttpRequest, name: str, limit: int = 200) -> str:
    return request.GET.get(name, "").strip()[:limit]


def pager_queries(request: HttpRequest, next_cursor: str | None) -> dict:
    """The query strings of the first and the next page, keeping the other parameters."""
    params = {k: v for k, v in request.GET.items() if k != "cursor" and v}
    return {
        "cursor": request.GET.get("cursor") or None,
        "query_first": urlencode(params),
        "query_next": urlencode(params | {"cursor": next_cursor}) if next_cursor else "",
    }


def empty_page() -> inspect.Page:
    return inspect.Page([], None)


def queue_names(request: HttpRequest) -> list[str]:
    """The queues the user may see."""
    return queue_scope(request.user).visible(inspect.queues())


def dead_groups(scope: QueueScope) -> dict[str, int]:
    """Dead letters per exception type, in the queues of `scope`."""
    if not scope.limited:
        return inspect.dead_groups()
    totals: dict[str, int] = {}
    for queue in sorted(scope.names):
        for error_type, n in inspect.dead_groups(queue).items():
            totals[error_type] = totals.get(error_type, 0) + n
    return dict(sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])))


@viewer_required
def overview(request: HttpRequest) -> HttpResponse:
    scope = queue_scope(request.user)
    context = fragments.overview_context(scope.visible(inspect.queues()))
    context["section"] = "overview"
    if not scope.limited:  # workflows span queues: not shown to a limited user
        context |= workflow_fragments.blocked_context("all")
    workers = [w for w in inspect.workers() if scope.sees_any(w.queues)]
    context |= health.overview_context([c.summary for c in context["summaries"]], workers)
    if can_operate(request.user) and not scope.limited:
        context |= health.redis_context()
    return page(request, "dashboard/overview.html", context, partial="totals")


@viewer_required
def queue(request: HttpRequest, name: str) -> HttpResponse:
    visible_queue(request.user, name)
    return queue_page(request, name)


def queue_page(request: HttpRequest, name: str, limit_form=None, status: int = 200):
    """The queue's page (the limit form as posted, with its error, when it was refused:
    limit_actions.py). Its limits are read once, for the header, the Limits table and
    the Tenants block's quota."""
    listed, error = text(request, "status") or Status.PENDING.value, None
    try:
        result = inspect.list_tasks(name, listed, cursor=request.GET.get("cursor"), limit=PAGE_SIZE)
    except ValidationError as exc:
        result, error = empty_page(), str(exc)
    limits = fragments.queue_limits(name)
    context = {
        "q": fragments.queue_counts(name, limits),
        **fragments.limits_context(name, limits),
        **fragments.tenants_context(name, limits),
        **health.queue_context(name),
        "limit_form": limit_form,
        "limit_tasks": fragments.limit_task_names(name, limits),
        "status": listed,
        "page": result,
        "error": error,
        "empty": f"No {listed} tasks in {name}.",
        "run_order": RUN_ORDER,
        **pager_queries(request, result.next_cursor),
    }
    status = 400 if error else status
    return page(request, "dashboard/queue.html", context, status=status)


def task_filter(request: HttpRequest) -> TaskFilter:
    """The search form's filter; ValidationError names a bad value. A user limited to
    several queues names one of them (the listings read one queue or every queue)."""
    queue, names = text(request, "queue") or None, queue_names(request)
    if queue is not None and queue not in names:
        raise ValidationError(f"There is no queue named {queue!r}.", field="queue")
    if queue is None and queue_scope(request.user).limited:
        if len(names) != 1:
            raise ValidationError(f"Choose a queue: {', '.join(names)}.", field="queue")
        queue = names[0]
    return TaskFilter(
        queue=queue,
        status=chosen_status(request),
        name=text(request, "name") or None,
        exception=text(request, "exception") or None,
        q=text(request, "q") or None,
    )


FAILED_CHOICES = {"": "any (failed at least once)", "ended": "ended failed (dead)"}


def chosen_status(request: HttpRequest) -> Status | None:
    """The status filter; `failed=ended` asks for tasks that ended failed (dead), the
    default being any task whose last failed attempt matches, whatever came after."""
    status, failed = inspect.check_status(text(request, "status")), text(request, "failed")
    if failed not in FAILED_CHOICES:
        raise ValidationError(f"failed {failed[:40]!r} is not one of '', 'ended'.", field="failed")
    if failed == "ended" and status not in (None, Status.DEAD):
        raise ValidationError(
            f"Tasks that ended failed are dead, not {status}: choose one.", field="failed"
        )
    return Status.DEAD if failed == "ended" else status


def search(request: HttpRequest, finder) -> tuple[inspect.Page, str | None]:
    try:
        flt = task_filter(request)
        return finder(flt, cursor=request.GET.get("cursor") or None, limit=PAGE_SIZE), None
    except ValidationError as exc:
        return empty_page(), str(exc)


def filter_values(request: HttpRequest) -> dict:
    names = ("q", "queue", "status", "name", "exception", "failed", "args")
    return {k: text(request, k) for k in names}


def archived_matches(request: HttpRequest, result: inspect.Page) -> list:
    """Archived tasks whose id starts with the search (an id prefix), or whose args or
    kwargs hold the `args` search, in the queues the user may see and matching the
    other filters, less those the page already shows; first page only."""
    prefix, words = inspect.id_prefix(text(request, "q")), text(request, "args")
    if (prefix is None and not words) or request.GET.get("cursor"):
        return []
    flt = task_filter(request)
    if prefix is not None:
        rows, flt = archived_by_prefix(prefix, limit=ARCHIVE_MATCHES), replace(flt, q=None)
        rows = [r for r in rows if not words or _archived_holds(r, words)]
    else:
        rows = archived_with_arguments(words, limit=ARCHIVE_MATCHES)
    scope, shown = queue_scope(request.user), {t.id for t in result.items}
    return [
        r
        for r in rows
        if scope.can_see(r.queue)
        and r.task_id not in shown
        and (flt.queue is None or r.queue == flt.queue)
        and flt.matches(r.status, r.name, r.error_type)
    ]


def _archived_holds(row, words: str) -> bool:
    stored = json.dumps([row.args, row.kwargs], ensure_ascii=False, default=str)
    return words.casefold() in stored.casefold()


def finder(request: HttpRequest):
    """The search the Tasks page runs: inside args and kwargs when `args` is given."""
    words = text(request, "args")
    if not words:
        return inspect.search_tasks
    return lambda flt, **page: inspect.search_arguments(flt, words, **page)


@viewer_required
def tasks(request: HttpRequest) -> HttpResponse:
    result, error = search(request, finder(request))
    context = {
        "section": "tasks",
        "page": result,
        "error": error,
        "archived": [] if error else archived_matches(request, result),
        "failed_choices": FAILED_CHOICES,
        "args_scan_budget": inspect.ARGS_SCAN_BUDGET,
        "archive_args_scan": ARCHIVE_ARGS_SCAN,
        "filters": filter_values(request),
        "queue_names": queue_names(request),
        "statuses": [s.value for s in Status],
        "exception_names": list(dead_groups(queue_scope(request.user))),
        **pager_queries(request, result.next_cursor),
    }
    return page(request, "dashboard/tasks.html", context, status=400 if error else 200)


@viewer_required
def task_detail(request: HttpRequest, task_id: str) -> HttpResponse:
    try:
        task = visible_task(request.user, task_id)
    except Http404:
        return errors.missing_task(request, task_id)  # with its archived record, if any
    context = {"task": task, "section": "tasks"}
    context["memberships"] = workflow_fragments.memberships(task)
    return page(request, "dashboard/task_detail.html", context, partial="task-panel")


@viewer_required
def dead(request: HttpRequest) -> HttpResponse:
    result, error = search(request, inspect.dead_letters)
    context = {
        "section": "dead",
        "page": result,
        "error": error,
        "filters": filter_values(request),
        "groups": dead_groups(queue_scope(request.user)),
        "queue_names": queue_names(request),
        "hx_target": "#dead-page",
        **pager_queries(request, result.next_cursor),
    }
    template = "dashboard/dead.html"
    return page(request, template, context, partial="dead-page", status=400 if error else 200)


@viewer_required
def scheduled(request: HttpRequest) -> HttpResponse:
    names = queue_names(request)
    queue_tabs = [(name, inspect.queue_counts(name).scheduled) for name in names]
    chosen = text(request, "queue") or next(
        (n for n, c in queue_tabs if c), names[0] if names else ""
    )
    if chosen not in names:
        raise Http404("No such queue")
    cursor = request.GET.get("cursor") or None
    try:
        result, error = inspect.list_tasks(chosen, Status.SCHEDULED, cursor=cursor), None
    except ValidationError as exc:
        result, error = empty_page(), str(exc)
    context = {
        "section": "scheduled",
        "queue": chosen,
        "queue_tabs": queue_tabs,
        "page": result,
        "error": error,
        **pager_queries(request, result.next_cursor),
    }
    return page(request, "dashboard/scheduled.html", context, status=400 if error else 200)


@viewer_required
def periodic(request: HttpRequest) -> HttpResponse:
    scope = queue_scope(request.user)
    schedules = [p for p in inspect.periodic_schedules() if scope.can_see(p.queue)]
    context = {"section": "periodic", "schedules": schedules}
    return page(request, "dashboard/periodic.html", context, partial="periodic-table")


@viewer_required
def workers(request: HttpRequest) -> HttpResponse:
    scope = queue_scope(request.user)
    shown = [w for w in inspect.workers() if scope.sees_any(w.queues)]
    context = {"section": "workers", "workers": shown, "lost_after": LOST_AFTER_S}
    if scope.limited:  # the workers it may quiet or stop (worker_actions.py)
        context["commandable"] = {w.id for w in shown if may_command(scope, w)}
    return page(request, "dashboard/workers.html", context, partial="workers-table")


@viewer_required
def charts(request: HttpRequest) -> HttpResponse:
    """History over 1 h, 24 h or 7 d (docs/console.md#charts): of one queue, or of every
    queue the user may see added up."""
    names = queue_names(request)
    span = check_span(text(request, "range", 10))
    chosen = text(request, "queue")
    if chosen and chosen not in names:
        raise Http404("No such queue")
    limited = queue_scope(request.user).limited
    key = chosen or "all"
    context = fragments.history_context(span.key, key, names if limited else None)
    context |= {"section": "charts", "spans": SPANS.values(), "span": span,
                "queue_names": names, "chosen_queue": chosen}  # fmt: skip
    return page(request, "dashboard/charts.html", context, partial="history")
