"""/queues: summaries, pause, resume and purge."""

from taskqueue import inspect, services
from taskqueue.names import validate_queue_name

from ..errors import ApiError
from ..routing import requires
from ..serializers import queue_dict
from .common import ok


def known_queue(name: str) -> str:
    """A queue that is configured or has been used: 422 for a bad name, 404 for a new one."""
    validate_queue_name(name)
    if name not in inspect.queues():
        raise ApiError(404, "not_found", f"No queue named {name!r} is configured or in use.")
    return name


@requires("read")
def list_queues(request, principal):
    return ok({"items": [queue_dict(inspect.queue_summary(q)) for q in inspect.queues()]})


@requires("read")
def queue_detail(request, principal, name: str):
    return ok(queue_dict(inspect.queue_summary(known_queue(name)), per_minute=True))


@requires("operate")
def pause(request, principal, name: str):
    was_paused = services.pause(principal.actor(request), known_queue(name))
    return ok({"queue": name, "paused": True, "was_paused": was_paused})


@requires("operate")
def resume(request, principal, name: str):
    was_paused = services.resume(principal.actor(request), known_queue(name))
    return ok({"queue": name, "paused": False, "was_paused": was_paused})


@requires("operate")
def purge(request, principal, name: str):
    """Delete the queue's pending tasks (scheduled, running and finished ones stay)."""
    return ok(
        {"queue": name, "purged": services.purge_queue(principal.actor(request), known_queue(name))}
    )
