"""/dlq: the dead-letter queue, listed with grouped counts; requeue and purge.

A caller limited to queues lists, counts and acts on its queues' dead letters only:
ids of other queues' tasks count as missing ones, a filter runs once per queue it
may see, and `to_queue` must be one of them (else 404, as for a queue not in use).

A token limited to tenants lists and acts on its tenants' dead letters only: other
ids count as missing, a filter is resolved to its tenants' dead letters' ids (the
engine's DLQ filters know no tenant), and `groups` (counts over every tenant) is {}.
`?tenant=` filters the listing for anyone; `groups` then still counts the queue(s)."""

from dataclasses import replace

from taskqueue import inspect, services
from taskqueue.inspect import MAX_PAGE, TaskFilter

from ..body import read_json
from ..errors import ApiError, invalid
from ..routing import requires
from ..serializers import page_dict
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

FILTER_KEYS = ("queue", "name", "exception")


@requires("read")
def list_dead(request, principal):
    queue, tenant = queue_param(request, principal), tenant_param(request, principal)
    if NOTHING in (queue, tenant):
        return ok(EMPTY_PAGE | {"groups": {}})
    flt = TaskFilter(
        queue=queue,
        name=query(request, "name"),
        exception=query(request, "exception"),
        tenant=tenant,
    )
    page = inspect.dead_letters(flt, cursor=cursor_param(request), limit=limit_param(request))
    groups = inspect.dead_groups(queue) if principal.tenants is None else {}
    return ok(page_dict(page) | {"groups": groups})


@requires("operate")
def requeue(request, principal):
    body = _selection_body(read_json(request), ("to_queue",))
    to_queue = body.get("to_queue")
    if to_queue is not None and not principal.can_see_queue(to_queue):
        raise queue_not_found(to_queue)
    if "confirmation" in body:
        done = services.requeue_confirmed(
            principal.actor(request), body["confirmation"], queues=_queues(principal),
            to_queue=to_queue,
        )  # fmt: skip
        return ok(_confirmed(done))
    if body["dry_run"]:
        return ok(_noted(principal, body))
    count = sum(
        services.requeue_dead(
            principal.actor(request), **part, to_queue=to_queue, dry_run=body["dry_run"]
        )
        for part in _parts(principal, body)
    )
    return ok({"count": count, "dry_run": body["dry_run"]})


@requires("operate")
def purge(request, principal):
    body = _selection_body(read_json(request), ())
    if "confirmation" in body:
        queues = _queues(principal)
        done = services.purge_dead_confirmed(
            principal.actor(request), body["confirmation"], queues=queues
        )
        return ok(_confirmed(done))
    if body["dry_run"]:
        return ok(_noted(principal, body))
    count = sum(
        services.purge_dead(principal.actor(request), **part, dry_run=body["dry_run"])
        for part in _parts(principal, body)
    )
    return ok({"count": count, "dry_run": body["dry_run"]})


def _noted(principal, body: dict) -> dict:
    """A dry run: the count, and the dead letters counted noted under a confirmation
    token that a second call may act on exactly (docs/api.md#exact-bulk-actions)."""
    token = services.new_token()
    count = sum(services.confirm_dead(token, **part).count for part in _parts(principal, body))
    return {"count": count, "dry_run": True, "confirmation": token if count else None,
            "expires_in_s": services.CONFIRM_TTL_S}  # fmt: skip


def _confirmed(done) -> dict:
    return {"count": done.done, "dry_run": False, "confirmed": done.confirmed,
            "not_dead": done.skipped}  # fmt: skip


def _queues(principal) -> list[str] | None:
    """The queues whose noted dead letters the caller may act on (None: every queue).
    A token limited to tenants noted its own tenants' ones only."""
    return sorted(principal.queues.names) if principal.queues.limited else None


def _parts(principal, body: dict) -> list[dict]:
    """The dead letters chosen, cut to the caller's queues and tenants, as keyword
    arguments of services.requeue_dead / purge_dead (one call each)."""
    parts = principal.queues.dead_selections(**_selection(body))
    if principal.tenants is None:
        return parts
    return [chunk for part in parts for chunk in _own_tenants(principal, part)]


def _own_tenants(principal, part: dict) -> list[dict]:
    """A part cut to the token's tenants: as ids, at most MAX_IDS a call."""
    ids = part.get("ids")
    if ids is not None and not (
        isinstance(ids, list)
        and len(ids) <= services.MAX_IDS
        and all(isinstance(i, str) for i in ids)
    ):
        return [part]  # malformed: the service refuses it before reading anything
    own = principal.task_ids(ids) if ids is not None else _dead_ids(part["flt"], principal)
    step = services.MAX_IDS
    return [{"ids": own[i : i + step]} for i in range(0, len(own), step)]


def _dead_ids(flt: TaskFilter, principal) -> list[str]:
    """The ids of the dead letters `flt` chooses among the token's tenants' ones."""
    found = []
    for tenant in sorted(principal.tenants):
        cursor, mine = None, replace(flt, tenant=tenant)
        while True:
            page = inspect.dead_letters(mine, cursor=cursor, limit=MAX_PAGE)
            found += [record.id for record in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    return found


def _selection_body(body: object, extra: tuple[str, ...]) -> dict:
    """{"ids": [...]} or {"filter": {...}}, "dry_run"? and the `extra` fields; or
    {"confirmation": token} (a dry run's) and the `extra` fields."""
    if not isinstance(body, dict):
        raise invalid("body", "The body must be a JSON object.")
    allowed = ("ids", "filter", "dry_run", "confirmation", *extra)
    unknown = [key for key in body if key not in allowed]
    if unknown:
        message = f"Unknown field; the fields are {', '.join(allowed)}."
        raise ApiError(422, "validation_error", message, dict.fromkeys(unknown[:20], message))
    if "confirmation" in body:
        if "ids" in body or "filter" in body or body.get("dry_run"):
            raise invalid("confirmation", "A confirmation goes alone: no ids, filter or dry_run.")
    elif ("ids" in body) == ("filter" in body):
        raise invalid("ids", "Give either ids or filter (not both, not neither).")
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise invalid("dry_run", "dry_run must be true or false.")
    for name in extra:
        if body.get(name) is not None and not isinstance(body[name], str):
            raise invalid(name, f"{name} must be a queue name.")
    return body | {"dry_run": dry_run}


def _selection(body: dict) -> dict:
    if "ids" in body:
        return {"ids": body["ids"]}
    flt = body["filter"]
    if not isinstance(flt, dict) or any(k not in FILTER_KEYS for k in flt):
        raise invalid("filter", f"filter must be an object with any of {', '.join(FILTER_KEYS)}.")
    if any(v is not None and not isinstance(v, str) for v in flt.values()):
        raise invalid("filter", "filter values must be strings.")
    return {"flt": TaskFilter(**{k: v or None for k, v in flt.items()})}
