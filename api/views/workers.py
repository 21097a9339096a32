"""/workers: the worker registry. A caller limited to queues sees the workers that
serve one of its queues, with only those queues listed."""

from taskqueue import inspect

from ..routing import requires
from .common import ok


def worker_counts(workers) -> dict[str, int]:
    lost = sum(w.lost for w in workers)
    return {"live": len(workers) - lost, "lost": lost}


@requires("read")
def list_workers(request, principal):
    scope = principal.queues
    workers = [w for w in inspect.workers() if scope.sees_any(w.queues)]
    items = [w.to_dict() | {"queues": scope.visible(w.queues)} for w in workers]
    return ok({"items": items, "counts": worker_counts(workers)})
