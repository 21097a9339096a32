"""/tasks: enqueue, list, inspect, cancel, retry and delete tasks.

A token limited to tenants enqueues for its tenant (a body naming none gets it; one
naming another is a 422 on `tenant`), lists its tenant's tasks only, and reads a task
of another tenant, or of none, as missing (404)."""

from dataclasses import replace

from django.urls import reverse

from taskqueue import inspect, services
from taskqueue.conf import get_config
from taskqueue.errors import PayloadInvalid, TaskDoesNotExist
from taskqueue.inspect import TaskFilter
from taskqueue.names import validate_queue_name
from taskqueue.registry import registry

from ..body import read_json
from ..enqueue import (
    FINGERPRINT,
    check_payload,
    idempotency_key,
    parse_enqueue,
    payload_error,
    stored_fingerprint,
)
from ..errors import ApiError, invalid
from ..routing import requires
from ..serializers import page_dict, task_dict
from ..workflow_body import dependent_graph
from .common import (
    EMPTY_PAGE,
    NOTHING,
    cursor_param,
    limit_param,
    ok,
    query,
    queue_not_found,
    queue_param,
    tenant_param,
)


@requires("enqueue")
def enqueue(request, principal):
    """201 with the new task; with an Idempotency-Key already used for the same body, 200
    with the task it made; for another body, 409."""
    spec = _for_tenant(principal, parse_enqueue(read_json(request)))
    _check_queue(principal, spec)
    options = dict(spec.options)
    key = idempotency_key(request, principal.user.pk)
    if spec.depends_on:
        return _enqueue_after(request, principal, spec, key)
    if key is not None:
        options |= {"idempotency_key": key, "meta": {FINGERPRINT: spec.fingerprint}}
    try:
        handle = services.enqueue(
            principal.actor(request), spec.task, spec.args, spec.kwargs, **options
        )
    except PayloadInvalid as exc:  # every bad argument in `fields`, not only the first
        raise payload_error(exc) from None
    record = handle.record()  # its queue is known: one read, not one per queue
    if not handle.created and stored_fingerprint(record) != spec.fingerprint:
        raise ApiError(
            409,
            "idempotency_conflict",
            "This Idempotency-Key was used with another request body "
            f"(it made task {record.id}); use a new key for a new task.",
        )
    location = reverse("api:task", args=[record.id])
    return ok(task_dict(record), 201 if handle.created else 200, {"Location": location})


def _check_queue(principal, spec) -> None:
    """404 when the task would go to a queue the caller may not see: the body's queue,
    else the task's own, else the default (as taskqueue.building picks it)."""
    if not principal.queues.limited:
        return
    declared = registry.get(spec.task).options.queue  # an unknown task: the engine's 422
    queue = spec.options.get("queue") or declared or get_config().DEFAULT_QUEUE
    if not principal.can_see_queue(validate_queue_name(queue)):
        raise queue_not_found(queue)


def _for_tenant(principal, spec):
    """The request with the tenant a token limited to tenants enqueues for: the body's,
    if it is one of them, else its only one; 422 on `tenant` otherwise."""
    if principal.tenants is None:
        return spec
    allowed = ("tenants " if len(principal.tenants) > 1 else "tenant ") + ", ".join(
        sorted(principal.tenants)
    )
    named = spec.options.get("tenant")
    if named is None and len(principal.tenants) == 1:
        return replace(spec, options=spec.options | {"tenant": next(iter(principal.tenants))})
    if named is None:
        raise invalid("tenant", f"This token enqueues for the {allowed}: name one.")
    if not principal.can_see_tenant(named):
        raise invalid("tenant", f"This token may only enqueue for the {allowed}.")
    return spec


def _enqueue_after(request, principal, spec, key: str | None):
    """A task that waits for existing ones: created with its workflow (the answer names
    it as workflow_id), like `task.using(depends_on=[...]).enqueue()` in Python."""
    if key is not None:
        raise invalid(
            "depends_on",
            "depends_on cannot be combined with an Idempotency-Key: the task is created "
            "with a workflow. Send it without the header, or submit the workflow with "
            "POST /api/v1/workflows, which takes an Idempotency-Key.",
        )
    parents = [_dependency(principal, task_id) for task_id in spec.depends_on]
    graph = dependent_graph(spec, parents)
    check_payload(spec)  # a workflow's tasks are not checked on the way in: this one is
    handle = services.enqueue_workflow(
        principal.actor(request), graph, name=spec.task, on_failure="wait"
    )
    record = handle.tasks["task"].record()
    location = reverse("api:task", args=[record.id])
    return ok(task_dict(record) | {"workflow_id": handle.id}, 201, {"Location": location})


def _dependency(principal, task_id: str):
    try:
        return principal.task(task_id)
    except TaskDoesNotExist:
        raise invalid(
            "depends_on",
            f"depends_on names no task with id {task_id!r} (it never existed, or it "
            "expired or was deleted).",
        ) from None


@requires("read")
def list_tasks(request, principal):
    queue, tenant = queue_param(request, principal), tenant_param(request, principal)
    if NOTHING in (queue, tenant):
        return ok(EMPTY_PAGE)
    flt = TaskFilter(
        queue=queue,
        status=inspect.check_status(query(request, "status")),
        name=query(request, "name"),
        exception=query(request, "exception"),
        q=query(request, "q"),
        tenant=tenant,
    )
    page = inspect.search_tasks(flt, cursor=cursor_param(request), limit=limit_param(request))
    return ok(page_dict(page))


@requires("read")
def task_detail(request, principal, task_id: str):
    return ok(task_dict(principal.task(task_id)))


@requires("operate")
def delete_task(request, principal, task_id: str):
    principal.task(task_id)  # 404 for a task outside the caller's queues or tenants
    services.delete(principal.actor(request), task_id)
    return ok({"id": task_id, "deleted": True})


@requires("operate")
def cancel_task(request, principal, task_id: str):
    """'cancelled' for a waiting task; 'requested' for a running one: its worker hears
    it within about a second (docs/worker.md, "Cancel")."""
    principal.task(task_id)
    outcome = services.cancel(principal.actor(request), task_id)
    return ok({"outcome": outcome, "task": task_dict(inspect.get_task(task_id))})


@requires("operate")
def retry_task(request, principal, task_id: str):
    principal.task(task_id)
    record = services.retry(principal.actor(request), task_id)
    return ok({"outcome": "pending", "task": task_dict(record)})
