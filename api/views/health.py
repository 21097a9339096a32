"""/health: is this deployment able to run tasks? No authentication."""

import logging

from taskqueue import inspect
from taskqueue.errors import BrokerUnavailable
from taskqueue.unserved import queues_without_worker

from ..routing import PUBLIC, requires
from .common import ok
from .workers import worker_counts

log = logging.getLogger("taskqueue.api")


@requires(PUBLIC)
def health(request, principal):
    """200 when Redis answers and at least one worker is alive; 503 with reasons else.
    `unserved_queues` names the queues with pending tasks no live worker serves: worth
    an alert, but not a 503 (the deployment runs every other queue's tasks)."""
    reasons, unserved = [], []
    try:
        found = inspect.workers()  # reading the registry: Redis answers
        workers = worker_counts(found)
        unserved = queues_without_worker(pending_by_queue(), found)
    except BrokerUnavailable as exc:
        log.warning("health: %s", exc)  # the details (hosts, paths) stay in the log
        reasons.append("Redis is unavailable.")
        workers = {"live": 0, "lost": 0}
    else:
        if not workers["live"]:
            reasons.append(f"No live worker is registered ({workers['lost']} lost).")
    status = "unavailable" if reasons else "ok"
    body = {"status": status, "reasons": reasons, "workers": workers, "unserved_queues": unserved}
    return ok(body, 503 if reasons else 200)


def pending_by_queue() -> dict[str, int]:
    """Pending tasks per known queue: one O(1) read per queue."""
    return {queue: inspect.queue_counts(queue).pending for queue in inspect.queues()}
