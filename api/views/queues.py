"""/queues: summaries (with their limits' state), pause, resume and purge.

A token limited to tenants sees the summaries of the queues it may see (counts over
every tenant), but pausing, resuming or purging one reaches other tenants' tasks: 404,
as for a queue not in use."""

from taskqueue import flow, inspect, services
from taskqueue.names import validate_queue_name

from ..body import declared_length, read_json
from ..errors import invalid
from ..routing import requires
from ..serializers import queue_dict
from .common import ok, queue_not_found


def known_queue(name: str, principal) -> str:
    """A queue that is configured or has been used, and that the caller may see: 422
    for a bad name, 404 for a new one or one outside the caller's queues."""
    validate_queue_name(name)
    if name not in inspect.queues() or not principal.can_see_queue(name):
        raise queue_not_found(name)
    return name


@requires("read")
def list_queues(request, principal):
    names = principal.queues.visible(inspect.queues())
    return ok({"items": [_queue(q) for q in names]})


@requires("read")
def queue_detail(request, principal, name: str):
    return ok(_queue(known_queue(name, principal), per_minute=True))


def _queue(name: str, *, per_minute: bool = False) -> dict:
    summary, limits = inspect.queue_summary(name), flow.queue_limits(name)
    return queue_dict(summary, limits, per_minute=per_minute)


def operable_queue(name: str, principal) -> str:
    """A known queue the caller may act on as a whole: never for a token limited to
    tenants (404, as for a queue not in use)."""
    queue = known_queue(name, principal)
    if principal.tenants is not None:
        raise queue_not_found(name)
    return queue


@requires("operate")
def pause(request, principal, name: str):
    was_paused = services.pause(principal.actor(request), operable_queue(name, principal))
    return ok({"queue": name, "paused": True, "was_paused": was_paused})


@requires("operate")
def resume(request, principal, name: str):
    was_paused = services.resume(principal.actor(request), operable_queue(name, principal))
    return ok({"queue": name, "paused": False, "was_paused": was_paused})


@requires("operate")
def purge(request, principal, name: str):
    """Delete the queue's pending tasks (scheduled, running and finished ones stay).
    No body: every pending task, whatever arrived last. {"dry_run": true}: count and
    note them, answering a confirmation token; {"confirmation": token}: delete exactly
    the noted tasks that are still pending (docs/api.md#exact-bulk-actions)."""
    queue = operable_queue(name, principal)
    body = _purge_body(request)
    if body.get("dry_run"):
        noted = services.confirm_purge(queue)
        return ok({"queue": name, "count": noted.count, "pending": noted.total,
                   "confirmation": noted.token, "expires_in_s": services.CONFIRM_TTL_S,
                   "dry_run": True})  # fmt: skip
    if "confirmation" in body:
        done = services.purge_confirmed(principal.actor(request), queue, body["confirmation"])
        return ok({"queue": name, "purged": done.done, "confirmed": done.confirmed,
                   "not_pending": done.skipped})  # fmt: skip
    return ok({"queue": name, "purged": services.purge_queue(principal.actor(request), queue)})


def _purge_body(request) -> dict:
    """{} for no body (as callers before the confirmation sent), else the JSON object
    with `dry_run` (a boolean) or `confirmation` (a string), not both."""
    if not declared_length(request):
        return {}
    body = read_json(request)
    if not isinstance(body, dict):
        raise invalid("body", "The body must be a JSON object.")
    unknown = [key for key in body if key not in ("dry_run", "confirmation")]
    if unknown:
        raise invalid("body", "Unknown field; the fields are dry_run and confirmation.")
    if not isinstance(body.get("dry_run", False), bool):
        raise invalid("dry_run", "dry_run must be true or false.")
    if body.get("dry_run") and "confirmation" in body:
        raise invalid("confirmation", "Give dry_run (to count) or confirmation, not both.")
    return body
