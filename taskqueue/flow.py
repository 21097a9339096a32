"""Flow-control limits as the front ends see them (docs/flow-control.md): read a queue's
limits and what they hold back, and change them at run time, audited. The API, the
console and `tq limits` call these; the engine enforces them (broker/limit_ops.py).

A sharded queue's limits are set on each of its sub-queues alike (each enforces them
on its own share of the tasks: docs/scaling.md), and read from its first."""

from .audit import Actor, record
from .broker import DECLARED, QueueLimits, TenantBacklogs
from .client import get_broker
from .errors import QueueDoesNotExist, ValidationError
from .limits import Rate, check_backlog, check_concurrency
from .models import AuditEvent
from .names import validate_queue_name
from .options import tenant as check_tenant

__all__ = [
    "DECLARED",
    "QueueLimits",
    "TenantBacklogs",
    "queue_limits",
    "set_limit",
    "set_quota",
    "tenant_backlogs",
]


def _known(queue: str) -> str:
    if validate_queue_name(queue) not in get_broker().known_queues():
        raise QueueDoesNotExist(queue)
    return queue


def queue_limits(queue: str) -> QueueLimits:
    broker = get_broker()
    return broker.limits(broker.shards.of(_known(queue))[0])


def set_limit(
    actor: Actor,
    queue: str,
    task: str | None = None,
    *,
    rate: Rate | str | None = DECLARED,
    concurrency: int | str | None = DECLARED,
    tenant: str | None = None,
) -> int:
    """An operator's limit for the queue (task and tenant None), one task name in it,
    or a tenant in it ("*": the limit each tenant has on its own): a Rate / a number,
    None for "no limit", DECLARED to go back to what the code declares. Takes effect
    at once (held tasks go back in line); returns how many went back."""
    if tenant is not None and tenant != "*":
        check_tenant(tenant)
    if tenant is not None and task is not None:
        raise ValidationError("A limit is a task name's or a tenant's, not both.", field="tenant")
    if task is not None and (
        not isinstance(task, str) or not 0 < len(task) <= 200 or not task.isprintable()
    ):
        message = (
            "task must be a task name of 1 to 200 characters, none of them a control character."
        )
        raise ValidationError(message, field="task")
    if rate not in (DECLARED, None) and not isinstance(rate, Rate):
        raise ValidationError(f"rate must be a Rate, None or {DECLARED!r}.", field="rate")
    if concurrency not in (DECLARED, None):
        check_concurrency(concurrency)
    broker = get_broker()
    moved = sum(
        broker.set_limit(sub, task, rate=rate, concurrency=concurrency, tenant=tenant)
        for sub in broker.shards.of(_known(queue))
    )
    detail = {
        "task": task,
        "rate": _shown(rate),
        "burst": rate.burst if isinstance(rate, Rate) else None,
        "concurrency": concurrency,
        "released": moved,
    }
    if tenant is not None:
        detail["tenant"] = tenant
    record(actor, AuditEvent.Action.SET_LIMIT, queue=queue, count=moved, detail=detail)
    return moved


def set_quota(
    actor: Actor,
    queue: str,
    *,
    max_backlog: int | str | None = DECLARED,
    tenant_backlog: int | str | None = DECLARED,
) -> None:
    """An operator's quotas for a queue (docs/flow-control.md#quotas): a number, None
    for "no quota", DECLARED to go back to the declared one. Audited."""
    for name, value in (("max_backlog", max_backlog), ("tenant_backlog", tenant_backlog)):
        if value not in (DECLARED, None):
            check_backlog(value, name)
    broker = get_broker()
    for sub in broker.shards.of(_known(queue)):
        broker.set_quota(sub, max_backlog=max_backlog, tenant_backlog=tenant_backlog)
    detail = {"max_backlog": max_backlog, "tenant_backlog": tenant_backlog}
    record(actor, AuditEvent.Action.SET_LIMIT, queue=queue, count=0, detail=detail)


def tenant_backlogs(queue: str, top: int = 20) -> TenantBacklogs:
    """The tenants with the largest backlogs in the queue (its first sub-queue's, for a
    sharded queue), largest first; at most `top` of them (label cardinality, /metrics)."""
    broker = get_broker()
    return broker.tenant_backlogs(broker.shards.of(_known(queue))[0], top=top)


def _shown(rate: Rate | str | None) -> str | None:
    return str(rate) if isinstance(rate, Rate) else rate
