"""/workers: the worker registry."""

from taskqueue import inspect

from ..routing import requires
from .common import ok


def worker_counts(workers) -> dict[str, int]:
    lost = sum(w.lost for w in workers)
    return {"live": len(workers) - lost, "lost": lost}


@requires("read")
def list_workers(request, principal):
    workers = inspect.workers()
    return ok({"items": [w.to_dict() for w in workers], "counts": worker_counts(workers)})
