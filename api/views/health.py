"""/health: is this deployment able to run tasks? No authentication."""

import logging

from taskqueue import inspect
from taskqueue.errors import BrokerUnavailable

from ..routing import PUBLIC, requires
from .common import ok
from .workers import worker_counts

log = logging.getLogger("taskqueue.api")


@requires(PUBLIC)
def health(request, principal):
    """200 when Redis answers and at least one worker is alive; 503 with reasons else."""
    reasons = []
    try:
        workers = worker_counts(inspect.workers())  # reading the registry: Redis answers
    except BrokerUnavailable as exc:
        log.warning("health: %s", exc)  # the details (hosts, paths) stay in the log
        reasons.append("Redis is unavailable.")
        workers = {"live": 0, "lost": 0}
    else:
        if not workers["live"]:
            reasons.append(f"No live worker is registered ({workers['lost']} lost).")
    status = "unavailable" if reasons else "ok"
    return ok({"status": status, "reasons": reasons, "workers": workers}, 503 if reasons else 200)
