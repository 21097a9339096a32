"""/queues/{name}/limits: a queue's flow-control limits (docs/api.md#limits), read, set
by an operator and cleared back to the declared ones, through taskqueue.flow (audited
there as set_limit).

The PUT body names each kind of limit explicitly: a key absent goes back to the
declared value, null means "no limit", a value sets it. The queue's quotas
(max_backlog, tenant_backlog: docs/flow-control.md#quotas) are a second group, set
through flow.set_quota (audited there too) when the body names one of them; a body
that names no quota leaves them as they are, one that names only quotas leaves the
rate and concurrency as they are. DELETE without a task puts both groups back. Queue
restrictions apply as on every queue endpoint: another queue is the 404 of a queue
not in use."""

from django.http import JsonResponse

from taskqueue import flow
from taskqueue.errors import ValidationError
from taskqueue.limits import check_backlog, check_concurrency, parse_rate
from taskqueue.options import tenant as check_tenant

from ..body import read_json
from ..errors import ApiError, invalid
from ..routing import requires
from ..serializers import limits_dict, scope_dict
from .common import ok
from .queues import known_queue, operable_queue

LIMIT_FIELDS = ("rate", "burst", "concurrency")
QUOTA_FIELDS = ("max_backlog", "tenant_backlog")  # the queue's only
FIELDS = ("task", "tenant", *LIMIT_FIELDS, *QUOTA_FIELDS)
MAX_RATE_TEXT = 32  # '1000000/30s' and spaces; longer is no rate (nor a huge error)
MAX_TASK_NAME = 200  # as taskqueue.flow.set_limit
MAX_DIGITS = 20  # a longer number is refused without being repeated in the message


@requires("read")
def limits(request, principal, name: str):
    now = flow.queue_limits(known_queue(name, principal))
    return ok({**limits_dict(now), "quotas": quotas_dict(now)})


@requires("operate")
def set_limits(request, principal, name: str):
    queue = operable_queue(name, principal)  # not for a token limited to tenants
    body = read_json(request)
    task, rate, concurrency = _parse(body)
    tenant = _tenant(body.get("tenant"), task)
    quotas = _quotas(body)  # all checked before anything is written
    actor, released = principal.actor(request), 0
    if quotas is None or any(key in body for key in LIMIT_FIELDS):
        released = flow.set_limit(
            actor, queue, task, rate=rate, concurrency=concurrency, tenant=tenant
        )
    if quotas is not None:
        flow.set_quota(actor, queue, **quotas)
    return _changed(queue, task, released, tenant)


@requires("operate")
def clear_limits(request, principal, name: str):
    """Both kinds back to the declared values: the queue's (no `task`) or a task's."""
    queue = operable_queue(name, principal)
    task = request.GET.get("task")
    if task is not None:
        _check_task(task)
    tenant = _tenant(request.GET.get("tenant"), task)
    released = flow.set_limit(principal.actor(request), queue, task, tenant=tenant)
    if task is None and tenant is None:
        flow.set_quota(principal.actor(request), queue)
    return _changed(queue, task, released, tenant)


def _changed(
    queue: str, task: str | None, released: int, tenant: str | None = None
) -> JsonResponse:
    now = flow.queue_limits(queue)
    if tenant is not None:
        scope = now.tenants.get(tenant)
        changed = {"queue": queue, "task": None, "tenant": tenant, "limits": scope_dict(scope)}
        return ok(changed | {"released": released})
    scope = now.own if task is None else now.tasks.get(task)
    changed = {"queue": queue, "task": task, "limits": scope_dict(scope), "released": released}
    return ok(changed if task is not None else changed | {"quotas": quotas_dict(now)})


def _tenant(value: object, task: str | None) -> str | None:
    """A tenant's scope ("*": each tenant's), or None; not with a task."""
    if value is None:
        return None
    if task is not None:
        raise invalid("tenant", "A limit is a task name's or a tenant's: send one of them.")
    if value == "*":
        return value
    try:
        return check_tenant(value)
    except ValidationError as exc:
        raise invalid("tenant", str(exc)) from None


def quotas_dict(limits: flow.QueueLimits) -> dict:
    """The queue's quotas in force (the operator's, else the declared; null: none)."""
    return {"max_backlog": limits.max_backlog, "tenant_backlog": limits.tenant_backlog}


def _parse(body: object) -> tuple:
    """(task, rate, concurrency) from the body, each kind DECLARED when absent."""
    if not isinstance(body, dict):
        raise invalid("body", "The body must be a JSON object.")
    unknown = [key for key in body if key not in FIELDS]
    if unknown:
        message = f"Unknown field; the fields are {', '.join(FIELDS)}."
        raise ApiError(422, "validation_error", message, dict.fromkeys(unknown[:20], message))
    task = body.get("task")
    if task is not None:
        _check_task(task)
    return task, _rate(body), _concurrency(body)


def _quotas(body: dict) -> dict | None:
    """The quotas for flow.set_quota (a kind absent: DECLARED), or None when the body
    names none; refused with a task (quotas are the queue's)."""
    named = [key for key in QUOTA_FIELDS if key in body]
    if not named:
        return None
    if body.get("task") is not None or body.get("tenant") is not None:
        message = f"{named[0]} is a quota of the whole queue: send it without a task or tenant."
        raise invalid(named[0], message)
    quotas = {key: body.get(key, flow.DECLARED) for key in QUOTA_FIELDS}
    for key in named:
        if quotas[key] is not None:
            check_backlog(_short(quotas[key], key), key)
    return quotas


def _check_task(task: object) -> None:
    if not isinstance(task, str) or not 0 < len(task) <= MAX_TASK_NAME or not task.isprintable():
        raise invalid(
            "task",
            f"task must be a task name of 1 to {MAX_TASK_NAME} characters, none of them a "
            "control character.",
        )


def _rate(body: dict):
    rate, burst = body.get("rate", flow.DECLARED), body.get("burst")
    if "burst" in body and ("rate" not in body or not isinstance(rate, str)):
        raise invalid("burst", 'burst goes with a rate: send a rate like "100/s" with it.')
    if rate is None or rate is flow.DECLARED:
        return rate
    if not isinstance(rate, str) or len(rate) > MAX_RATE_TEXT:
        raise invalid("rate", 'rate must be null or a rate like "100/s", "3/m", "10/30s".')
    return parse_rate(rate, _short(burst, "burst"))


def _concurrency(body: dict):
    concurrency = body.get("concurrency", flow.DECLARED)
    if concurrency is not None and concurrency is not flow.DECLARED:
        check_concurrency(_short(concurrency, "concurrency"))
    return concurrency


def _short(value: object, field: str) -> object:
    """The value, unless it is a number too long to repeat in an error message."""
    if isinstance(value, int) and abs(value) >= 10**MAX_DIGITS:
        raise invalid(field, f"{field} must be a small whole number, not {MAX_DIGITS}+ digits.")
    return value
