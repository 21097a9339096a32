"""/queues: summaries (with their limits' state), pause, resume and purge.

A token limited to tenants sees the summaries of the queues it may see (counts over
every tenant), but pausing, resuming or purging one reaches other tenants' tasks: 404,
as for a queue not in use."""

from taskqueue import flow, inspect, services
from taskqueue.names import validate_queue_name

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
    """Delete the queue's pending tasks (scheduled, running and finished ones stay)."""
    purged = services.purge_queue(principal.actor(request), operable_queue(name, principal))
    return ok({"queue": name, "purged": purged})
