"""Quiet or stop a worker from the workers page (docs/console.md, "Workers"): operators
only, POST, CSRF-checked, confirmed in the browser (hx-confirm), audited by
taskqueue.services.control_worker. The worker hears the command within a second.

The worker's id travels in the form's body (a worker's name may hold any character).
A user limited to queues may only command a worker that serves none but those queues:
any other answers as an unknown worker, as it would on the page, where it is either
not shown or shown without its buttons.
"""

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from taskqueue import inspect, services
from taskqueue.errors import ValidationError
from taskqueue.workers import LOST_AFTER_S, WorkerInfo

from .access import QueueScope, operator_required, queue_scope
from .actions import actor, perform

UNKNOWN = "no worker with that id is registered."


def may_command(scope: QueueScope, worker: WorkerInfo) -> bool:
    """A worker serving only queues the user may see (any, when not limited)."""
    return not scope.limited or (bool(worker.queues) and all(map(scope.can_see, worker.queues)))


def shown_workers(scope: QueueScope) -> list[WorkerInfo]:
    return [w for w in inspect.workers() if scope.sees_any(w.queues)]


def workers_table(request: HttpRequest, scope: QueueScope) -> list[str]:
    """The workers table, for an out-of-band swap (only the workers the user sees)."""
    context = {
        "workers": shown_workers(scope),
        "lost_after": LOST_AFTER_S,
        "oob": True,
        "can_operate": True,
        "commandable": {w.id for w in shown_workers(scope) if may_command(scope, w)},
    }
    return [render_to_string("dashboard/workers.html#workers-table", context, request=request)]


def _message(command: str, worker: WorkerInfo) -> str:
    name = worker.name or worker.id
    if command == "quiet":
        return (
            f"Worker {name} goes quiet: it claims no new task, hands back those it claimed "
            f"ahead and finishes the ones it runs. It keeps running until you stop it."
        )
    return (
        f"Worker {name} is stopping: it finishes its running tasks within its grace "
        f"period, hands the rest back to their queues and exits."
    )


def _command(request: HttpRequest, command: str) -> HttpResponse:
    scope = queue_scope(request.user)
    worker_id = request.POST.get("worker", "")

    def act() -> str:
        found = [w for w in inspect.workers() if w.id == worker_id]
        if not found or not may_command(scope, found[0]):
            raise ValidationError(UNKNOWN, field="worker")
        info = services.control_worker(actor(request), worker_id, command)
        return _message(command, info)

    return perform(request, act, lambda: workers_table(request, scope))


@operator_required
def worker_quiet(request: HttpRequest) -> HttpResponse:
    return _command(request, "quiet")


@operator_required
def worker_stop(request: HttpRequest) -> HttpResponse:
    return _command(request, "stop")
