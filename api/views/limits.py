"""/queues/{name}/limits: a queue's flow-control limits (docs/api.md#limits), read, set
by an operator and cleared back to the declared ones, through taskqueue.flow (audited
there as set_limit).

The PUT body names each kind of limit explicitly: a key absent goes back to the
declared value, null means "no limit", a value sets it. Queue restrictions apply as on
every queue endpoint: another queue is the 404 of a queue not in use."""

from django.http import JsonResponse

from taskqueue import flow
from taskqueue.limits import check_concurrency, parse_rate

from ..body import read_json
from ..errors import ApiError, invalid
from ..routing import requires
from ..serializers import limits_dict, scope_dict
from .common import ok
from .queues import known_queue

FIELDS = ("task", "rate", "burst", "concurrency")
MAX_RATE_TEXT = 32  # '1000000/30s' and spaces; longer is no rate (nor a huge error)
MAX_TASK_NAME = 200  # as taskqueue.flow.set_limit
MAX_DIGITS = 20  # a longer number is refused without being repeated in the message


@requires("read")
def limits(request, principal, name: str):
    return ok(limits_dict(flow.queue_limits(known_queue(name, principal))))


@requires("operate")
def set_limits(request, principal, name: str):
    queue = known_queue(name, principal)
    task, rate, concurrency = _parse(read_json(request))
    released = flow.set_limit(
        principal.actor(request), queue, task, rate=rate, concurrency=concurrency
    )
    return _changed(queue, task, released)


@requires("operate")
def clear_limits(request, principal, name: str):
    """Both kinds back to the declared values: the queue's (no `task`) or a task's."""
    queue = known_queue(name, principal)
    task = request.GET.get("task")
    if task is not None:
        _check_task(task)
    return _changed(queue, task, flow.set_limit(principal.actor(request), queue, task))


def _changed(queue: str, task: str | None, released: int) -> JsonResponse:
    now = flow.queue_limits(queue)
    scope = now.own if task is None else now.tasks.get(task)
    return ok({"queue": queue, "task": task, "limits": scope_dict(scope), "released": released})


def _parse(body: object) -> tuple:
    """(task, rate, concurrency) from the body, each kind DECLARED when absent."""
    if not isinstance(body, dict):
        raise invalid("body", "The body must be a JSON object.")
    unknown = [key for key in body if key not in FIELDS]
    if unknown:
        message = f"Unknown field; the fields are {', '.join(FIELDS)}."
        raise ApiError(422, "validation_error", message, dict.fromkeys(unknown[:20], message))
    task = body.get("task")
    if task is not None:
        _check_task(task)
    return task, _rate(body), _concurrency(body)


def _check_task(task: object) -> None:
    if not isinstance(task, str) or not 0 < len(task) <= MAX_TASK_NAME:
        raise invalid("task", f"task must be a task name of 1 to {MAX_TASK_NAME} characters.")


def _rate(body: dict):
    rate, burst = body.get("rate", flow.DECLARED), body.get("burst")
    if "burst" in body and ("rate" not in body or not isinstance(rate, str)):
        raise invalid("burst", 'burst goes with a rate: send a rate like "100/s" with it.')
    if rate is None or rate is flow.DECLARED:
        return rate
    if not isinstance(rate, str) or len(rate) > MAX_RATE_TEXT:
        raise invalid("rate", 'rate must be null or a rate like "100/s", "3/m", "10/30s".')
    return parse_rate(rate, _short(burst, "burst"))


def _concurrency(body: dict):
    concurrency = body.get("concurrency", flow.DECLARED)
    if concurrency is not None and concurrency is not flow.DECLARED:
        check_concurrency(_short(concurrency, "concurrency"))
    return concurrency


def _short(value: object, field: str) -> object:
    """The value, unless it is a number too long to repeat in an error message."""
    if isinstance(value, int) and abs(value) >= 10**MAX_DIGITS:
        raise invalid(field, f"{field} must be a small whole number, not {MAX_DIGITS}+ digits.")
    return value
