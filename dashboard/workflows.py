"""The workflow pages: the list, one workflow (summary, graph, dead and blocked tasks),
and the list of some of its tasks (what a summary box of the graph links to); and two
actions: cancel a workflow, requeue one of its dead tasks.

Reads go through taskqueue.inspect (workflow_fragments.py). The actions go through
taskqueue.services with the console user as the actor, so they are audited like every
other console action (`cancel_workflow`, `retry`).

A workflow's tasks may be in any queue: a user limited to queues (access.py) gets a
404 from every page and action here, as for a workflow that does not exist.
"""

import re
from collections.abc import Callable
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse

from taskqueue import inspect, services
from taskqueue.errors import InvalidTransition, ValidationError

from .access import operator_required, queue_scope, viewer_required
from .actions import actor, perform, respond
from .fragments import response_fragment
from .views import page, text
from .workflow_fragments import SNAPSHOTS, find, page_context
from .workflow_graph import STATUSES, Member, blocked_by, layers, task_url

PAGE_SIZE = 50
NODES_PAGE = 100
MAX_OFFSET = 1_000_000
TABS = (
    ("all", "All"),
    ("running", "Running"),
    ("blocked", "Blocked"),
    ("completed", "Completed"),
    ("cancelled", "Cancelled"),
)
LAYERS_RE = re.compile(r"(\d{1,6})(?:-(\d{1,6}))?")


def offset_of(request: HttpRequest) -> int:
    value = text(request, "offset", 20) or "0"
    if not value.isdigit() or int(value) > MAX_OFFSET:
        raise ValidationError(f"offset must be a whole number up to {MAX_OFFSET}.", field="offset")
    return int(value)


def pages(request: HttpRequest, offset: int, size: int, more: bool) -> dict:
    """The query strings of the previous and the next page (None / "" when there is none)."""
    params = {k: v for k, v in request.GET.items() if k != "offset" and v}

    def query(at: int) -> str:
        return urlencode(params | ({"offset": at} if at else {}))

    return {
        "query_prev": query(max(0, offset - size)) if offset else None,
        "query_next": query(offset + size) if more else "",
    }


def unlimited(request: HttpRequest) -> None:
    """Http404 for a user limited to queues."""
    if queue_scope(request.user).limited:
        raise Http404("No such workflow")


def existing(workflow_id: str):
    info = find(workflow_id)
    if info is None:
        raise Http404("No such workflow")
    return info


@viewer_required
def workflow_list(request: HttpRequest) -> HttpResponse:
    unlimited(request)
    status, error, rows, offset = text(request, "status") or "all", None, [], 0
    try:
        offset = offset_of(request)
        wanted = None if status == "all" else status
        rows = inspect.list_workflows(wanted, offset=offset, limit=PAGE_SIZE)
    except ValidationError as exc:
        error = str(exc)
    context = {
        "section": "workflows",
        "status": status,
        "tabs": TABS,
        "rows": rows,
        "error": error,
        "scan": inspect.WORKFLOW_SCAN,
        **pages(request, offset, PAGE_SIZE, len(rows) == PAGE_SIZE),
    }
    return page(request, "dashboard/workflows.html", context, status=400 if error else 200)


@viewer_required
def workflow_detail(request: HttpRequest, workflow_id: str) -> HttpResponse:
    unlimited(request)
    existing(workflow_id)
    context = page_context(workflow_id) | {"section": "workflows"}
    return page(request, "dashboard/workflow.html", context, partial="workflow-graph")


# -- the list of some of a workflow's tasks ------------------------------------------


def layer_range(value: str) -> tuple[int, int] | None:
    """A layer, "3", or a range of them, "20-979" (counted from 0, as the graph links)."""
    if not value:
        return None
    match = LAYERS_RE.fullmatch(value)
    if match is None:
        raise ValidationError(f"layer {value!r} is not a number or a range like 20-979.",
                              field="layer")  # fmt: skip
    first = int(match[1])
    return first, int(match[2] or first)


def check_node_status(value: str) -> str:
    if value and value not in (*STATUSES, "blocked"):
        allowed = ", ".join((*STATUSES, "blocked"))
        raise ValidationError(f"status {value!r} is not one of {allowed}.", field="status")
    return value


def node_rows(members: list[Member], span, name: str, status: str) -> list[dict]:
    blocked = blocked_by(members)
    status_of = {m.key: m.status for m in members}
    rows = []
    for step, layer in enumerate(layers(members)):
        if span is not None and not span[0] <= step <= span[1]:
            continue
        for m in layer:
            shown = "blocked" if m.key in blocked else m.status
            if (name and m.name != name) or (status and status not in (m.status, shown)):
                continue
            waits = [p for p in m.parents if status_of.get(p) != "completed"]
            rows.append({"member": m, "step": step + 1, "href": task_url(m.task_id),
                         "blocked_by": blocked.get(m.key, []),
                         "waits_for": waits if m.status == "waiting" else []})  # fmt: skip
    return rows


@viewer_required
def workflow_nodes(request: HttpRequest, workflow_id: str) -> HttpResponse:
    unlimited(request)
    info = existing(workflow_id)
    name, rows, error, offset, span = text(request, "name"), [], None, 0, None
    status = text(request, "status")
    try:
        span, offset = layer_range(text(request, "layer", 20)), offset_of(request)
        members = SNAPSHOTS.get(workflow_id, fresh=True).members
        rows = node_rows(members, span, name, check_node_status(status))
    except ValidationError as exc:
        error = str(exc)
    label = None if span is None else f"step {span[0] + 1}" if span[0] == span[1] else (
        f"steps {span[0] + 1} to {span[1] + 1}")  # fmt: skip
    context = {
        "section": "workflows",
        "wf": info,
        "rows": rows[offset : offset + NODES_PAGE],
        "total": len(rows),
        "name": name,
        "status": status,
        "layer_label": label,
        "error": error,
        **pages(request, offset, NODES_PAGE, offset + NODES_PAGE < len(rows)),
    }
    return page(request, "dashboard/workflow_nodes.html", context, status=400 if error else 200)


# -- actions -------------------------------------------------------------------------

PARTS = ("workflow-summary", "workflow-actions", "workflow-graph", "workflow-dead")


def on_workflow(request: HttpRequest, workflow_id: str, act: Callable[[], str]) -> HttpResponse:
    """Run an action on an existing workflow; answer with its message and the workflow
    page's parts as they are now (a 404 message for a workflow that does not exist)."""
    if queue_scope(request.user).limited or find(workflow_id) is None:
        messages.error(request, f"There is no workflow with id {workflow_id[:64]!r}.")
        return respond(request, [], 404)

    def refresh() -> list[str]:
        SNAPSHOTS.forget(workflow_id)
        return [response_fragment(kind, workflow_id, can_operate=True) for kind in PARTS]

    return perform(request, act, refresh)


@operator_required
def workflow_cancel(request: HttpRequest, workflow_id: str) -> HttpResponse:
    def act() -> str:
        label = find(workflow_id).name or workflow_id
        outcome = services.cancel_workflow(workflow_id, actor(request))
        if outcome.status_before == "cancelled":
            return f"Workflow {label} was cancelled already."
        n = outcome.cancelled
        return f"Cancelled workflow {label}: {n} task{'s' if n != 1 else ''} cancelled."

    return on_workflow(request, workflow_id, act)


@operator_required
def workflow_requeue(request: HttpRequest, workflow_id: str) -> HttpResponse:
    """Requeue a dead task of the workflow (the service's retry, audited as one)."""
    task_id = request.POST.get("task", "")

    def act() -> str:
        task = inspect.get_task(task_id)
        keys = [key for wid, key in inspect.workflows_of(task) if wid == workflow_id]
        if not keys:
            raise ValidationError(f"Task {task_id} is not a task of this workflow.", field="task")
        if task.status != "dead":
            raise InvalidTransition(task.id, "requeue", task.status)
        services.retry(actor(request), task.id)
        return f"Requeued {keys[0]} (task {task.id}): it is pending again."

    return on_workflow(request, workflow_id, act)
