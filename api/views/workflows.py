"""/workflows: submit a workflow (a DAG of registered tasks), list them, inspect one
with its nodes' live status, cancel one.

A caller limited to queues or to tenants gets 404 from every endpoint here (a
workflow's tasks may be in any queue, of any tenant): for one workflow, the same 404
as for one that does not exist."""

from urllib.parse import quote

from django.urls import reverse

from taskqueue import inspect, services
from taskqueue.errors import InvalidTransition, TaskDoesNotExist, WorkflowDoesNotExist
from taskqueue.records import WorkflowInfo

from ..body import read_json
from ..enqueue import idempotency_key, stored_fingerprint
from ..errors import ApiError, invalid
from ..routing import requires
from ..workflow_body import build_graph, parse_workflow
from .common import limit_param, ok, query

MAX_OFFSET = 1_000_000
COMPARED_NODES = 3  # tasks read to compare a repeated request's body with the first's


@requires("enqueue")
def submit(request, principal):
    """201 with the new workflow; with an Idempotency-Key already used for the same
    body, 200 with the workflow it made; for another body, 409."""
    _unlimited(principal)
    spec = parse_workflow(read_json(request))
    key = idempotency_key(request, principal.user.pk)
    handle = services.enqueue_workflow(
        principal.actor(request),
        build_graph(spec, idempotent=key is not None),
        name=spec.name,
        on_failure=spec.on_failure,
        idempotency_key=key,
    )
    nodes = inspect.workflow_nodes(handle.id)  # the stored ones, also for a repeat
    if not handle.created and _made_by_another_body(nodes, spec.fingerprint):
        raise ApiError(
            409,
            "idempotency_conflict",
            "This Idempotency-Key was used with another request body "
            f"(it made workflow {handle.id}); use a new key for a new workflow.",
        )
    body = workflow_dict(_info(handle.id), nodes)
    status = 201 if handle.created else 200
    return ok(body, status, {"Location": body["links"]["self"]})


def _made_by_another_body(nodes: list, fingerprint: str) -> bool:
    """Whether the first tasks still kept say another body made the workflow (none
    kept: nothing tells them apart, so it counts as the same)."""
    for node, _ in nodes[:COMPARED_NODES]:
        try:
            return stored_fingerprint(inspect.get_task(node.task_id)) != fingerprint
        except TaskDoesNotExist:
            continue
    return False


@requires("read")
def list_workflows(request, principal):
    """Newest first; with `status`, among the newest WORKFLOW_SCAN (inspect.py)."""
    _unlimited(principal)
    limit, offset = limit_param(request), _offset_param(request)
    items = inspect.list_workflows(query(request, "status"), offset=offset, limit=limit)
    return ok(
        {
            "items": [summary_dict(info) for info in items],
            "next_offset": offset + limit if len(items) == limit else None,
        }
    )


@requires("read")
def workflow_detail(request, principal, workflow_id: str):
    _unlimited(principal, workflow_id)
    info = _info(workflow_id)
    return ok(workflow_dict(info, inspect.workflow_nodes(workflow_id)))


@requires("operate")
def cancel(request, principal, workflow_id: str):
    """What has not run is cancelled, a running task is asked to stop, nothing more of
    the workflow starts; a completed workflow is a 409."""
    _unlimited(principal, workflow_id)
    _info(workflow_id)  # 404 for an unknown or malformed id, before any write
    try:
        done = services.cancel_workflow(workflow_id, principal.actor(request))
    except WorkflowDoesNotExist:
        raise _not_found(workflow_id) from None
    except InvalidTransition as exc:
        message = f"Cannot cancel workflow {workflow_id}: it is {exc.status}."
        raise ApiError(409, "invalid_transition", message) from None
    nodes = inspect.workflow_nodes(workflow_id)
    return ok(
        {
            "outcome": "cancelled",
            "status_before": done.status_before,
            "cancelled": done.cancelled,
            "workflow": workflow_dict(_info(workflow_id), nodes),
        }
    )


def _unlimited(principal, workflow_id: str | None = None) -> None:
    """404 for a caller limited to queues or to tenants."""
    if not principal.limited:
        return
    if workflow_id is not None:
        raise _not_found(workflow_id)
    message = "Workflows are not available to a caller limited to queues or tenants."
    raise ApiError(404, "not_found", message)


def _info(workflow_id: str) -> WorkflowInfo:
    try:
        return inspect.get_workflow(workflow_id)
    except WorkflowDoesNotExist:
        raise _not_found(workflow_id) from None


def _not_found(workflow_id: str) -> ApiError:
    shown = workflow_id if len(workflow_id) <= 64 else workflow_id[:64] + "..."
    return ApiError(404, "not_found", f"No workflow with id {shown!r} exists.")


def _offset_param(request) -> int:
    raw = request.GET.get("offset")
    if raw is None:
        return 0
    if len(raw) > 7 or not raw.isascii() or not raw.isdigit() or int(raw) > MAX_OFFSET:
        raise invalid("offset", f"offset must be an integer from 0 to {MAX_OFFSET}.")
    return int(raw)


def summary_dict(info: WorkflowInfo) -> dict:
    return {
        "id": info.id,
        "name": info.name,
        "status": str(info.status),
        "on_failure": info.on_failure,
        "created_at": _time(info.created_at),
        "finished_at": _time(info.finished_at),
        "counts": {
            "total": info.total,
            "completed": info.completed,
            "dead": info.dead,
            "cancelled": info.cancelled,
        },
        "links": {
            "self": _url("workflows", info.id),
            "cancel": _url("workflows", info.id, "cancel"),
        },
    }


def workflow_dict(info: WorkflowInfo, nodes: list) -> dict:
    """The summary, and each node with its task's live status (`missing`: the task's
    record is gone, e.g. deleted after it finished)."""
    return summary_dict(info) | {"nodes": [_node_dict(node, status) for node, status in nodes]}


def _node_dict(node, status: str) -> dict:
    return {
        "key": node.key,
        "task_id": node.task_id,
        "queue": node.queue,
        "status": str(status),
        "state": node.state,
        "parents": list(node.parents),
        "children": list(node.children),
        "links": {"task": _url("tasks", node.task_id)},
    }


def _url(collection: str, item_id: str, action: str = "") -> str:
    """The URL of an item; ids read from Redis are quoted, whatever they hold."""
    base = reverse(f"api:{collection}")
    return f"{base}/{quote(item_id, safe='')}" + (f"/{action}" if action else "")


def _time(value) -> str | None:
    return value.isoformat() if value is not None else None
