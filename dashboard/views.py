"""The console's pages. Each one template renders the whole page, or for an htmx
request just its `#listing` (or named) partial. Reads go through taskqueue.inspect only."""

from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from taskqueue import inspect
from taskqueue.errors import TaskDoesNotExist, ValidationError
from taskqueue.inspect import TaskFilter
from taskqueue.status import Status
from taskqueue.unserved import queues_without_worker
from taskqueue.workers import LOST_AFTER_S

from . import fragments, workflow_fragments
from .access import can_operate, viewer_required

PAGE_SIZE = 50


def page(
    request: HttpRequest, template: str, context: dict, *, partial: str = "listing", status=200
) -> HttpResponse:
    """Render the page, or only `partial` for an htmx request (not a history restore)."""
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.history_restore_request:
        template = f"{template}#{partial}"
    context = {"live": True, "can_operate": can_operate(request.user)} | context
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


@viewer_required
def overview(request: HttpRequest) -> HttpResponse:
    context = fragments.overview_context() | {"section": "overview"}
    context |= workflow_fragments.blocked_context("all")
    pending = {card.name: card.counts.pending for card in context["summaries"]}
    context["unserved"] = queues_without_worker(pending, inspect.workers())
    return page(request, "dashboard/overview.html", context, partial="totals")


@viewer_required
def queue(request: HttpRequest, name: str) -> HttpResponse:
    if name not in inspect.queues():
        raise Http404("No such queue")
    status, error = text(request, "status") or Status.PENDING.value, None
    try:
        result = inspect.list_tasks(name, status, cursor=request.GET.get("cursor"), limit=PAGE_SIZE)
    except ValidationError as exc:
        result, error = empty_page(), str(exc)
    context = {
        "q": fragments.queue_counts(name),
        "status": status,
        "page": result,
        "error": error,
        "empty": f"No {status} tasks in {name}.",
        **pager_queries(request, result.next_cursor),
    }
    return page(request, "dashboard/queue.html", context, status=400 if error else 200)


def task_filter(request: HttpRequest) -> TaskFilter:
    """The search form's filter; ValidationError names a bad value."""
    queue = text(request, "queue") or None
    if queue is not None and queue not in inspect.queues():
        raise ValidationError(f"There is no queue named {queue!r}.", field="queue")
    return TaskFilter(
        queue=queue,
        status=inspect.check_status(text(request, "status")),
        name=text(request, "name") or None,
        exception=text(request, "exception") or None,
        q=text(request, "q") or None,
    )


def search(request: HttpRequest, finder) -> tuple[inspect.Page, str | None]:
    try:
        flt = task_filter(request)
        return finder(flt, cursor=request.GET.get("cursor") or None, limit=PAGE_SIZE), None
    except ValidationError as exc:
        return empty_page(), str(exc)


def filter_values(request: HttpRequest) -> dict:
    return {k: text(request, k) for k in ("q", "queue", "status", "name", "exception")}


@viewer_required
def tasks(request: HttpRequest) -> HttpResponse:
    result, error = search(request, inspect.search_tasks)
    context = {
        "section": "tasks",
        "page": result,
        "error": error,
        "filters": filter_values(request),
        "queue_names": inspect.queues(),
        "statuses": [s.value for s in Status],
        "exception_names": list(inspect.dead_groups()),
        **pager_queries(request, result.next_cursor),
    }
    return page(request, "dashboard/tasks.html", context, status=400 if error else 200)


@viewer_required
def task_detail(request: HttpRequest, task_id: str) -> HttpResponse:
    try:
        task = inspect.get_task(task_id)
    except TaskDoesNotExist:
        raise Http404("No such task") from None
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
        "groups": inspect.dead_groups(),
        "queue_names": inspect.queues(),
        "hx_target": "#dead-page",
        **pager_queries(request, result.next_cursor),
    }
    template = "dashboard/dead.html"
    return page(request, template, context, partial="dead-page", status=400 if error else 200)


@viewer_required
def scheduled(request: HttpRequest) -> HttpResponse:
    names = inspect.queues()
    queue_tabs = [(name, inspect.queue_counts(name).scheduled) for name in names]
    chosen = text(request, "queue") or next((n for n, c in queue_tabs if c), names[0])
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
    context = {"section": "periodic", "schedules": inspect.periodic_schedules()}
    return page(request, "dashboard/periodic.html", context, partial="periodic-table")


@viewer_required
def workers(request: HttpRequest) -> HttpResponse:
    context = {"section": "workers", "workers": inspect.workers(), "lost_after": LOST_AFTER_S}
    return page(request, "dashboard/workers.html", context, partial="workers-table")
