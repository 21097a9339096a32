"""The console's actions: POST only, operators only, CSRF-checked, audited.

Every action goes through taskqueue.services with the logged-in user as the actor.
An htmx request gets the outcome as a message plus the changed fragments (swapped
out-of-band, no reload); a plain form post gets a redirect back with the message.

A user limited to queues (access.py) acts on those only: a task or a queue outside
them answers 404, as one that does not exist; a bulk action skips other queues' tasks
as missing ones.
"""

from collections.abc import Callable
from urllib.parse import urlsplit

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from taskqueue import services
from taskqueue.audit import Actor
from taskqueue.errors import (
    BrokerUnavailable,
    InvalidTransition,
    QueueDoesNotExist,
    TaskDoesNotExist,
    TaskQueueError,
    ValidationError,
)

from .access import operator_required, queue_scope
from .fragments import response_fragment

ERROR_STATUS = (
    (TaskDoesNotExist, 404),
    (QueueDoesNotExist, 404),
    (InvalidTransition, 409),
    (ValidationError, 400),
    (BrokerUnavailable, 503),
    (TaskQueueError, 400),
)


def actor(request: HttpRequest) -> Actor:
    return Actor.from_request(request, "console")


def back(request: HttpRequest) -> str:
    """Where a plain form post returns to: `next`, else the referring console page
    (only a URL on this host; never a view name, which `redirect` would try to resolve)."""
    for candidate in (request.POST.get("next"), request.META.get("HTTP_REFERER")):
        if candidate and url_has_allowed_host_and_scheme(
            candidate, {request.get_host()}, require_https=request.is_secure()
        ):
            parts = urlsplit(candidate)
            if parts.netloc or parts.path.startswith("/"):  # not a path relative to this one
                return candidate
    return reverse("dashboard:overview")


def respond(request: HttpRequest, fragments: list[str], status: int = 200) -> HttpResponse:
    if not getattr(request, "htmx", False):
        return HttpResponseRedirect(back(request))
    shown = render_to_string("dashboard/_messages.html", {"oob": True}, request=request)
    return HttpResponse(shown + "".join(fragments), status=status)


def perform(request: HttpRequest, act: Callable[[], str], refresh: Callable[[], list[str]]):
    """Run an action; report its message (or its error) and the refreshed fragments."""
    try:
        message = act()
    except TaskQueueError as exc:
        messages.error(request, str(exc))
        status = next(code for kind, code in ERROR_STATUS if isinstance(exc, kind))
        return respond(request, [], status)
    if message:
        messages.success(request, message)
    return respond(request, refresh())


def visible(request: HttpRequest, task_id: str) -> str:
    """The id, if the user may see the task's queue; TaskDoesNotExist (404) otherwise."""
    return queue_scope(request.user).task(task_id).id


def visible_queue(request: HttpRequest, name: str) -> str:
    """The name, if the user may see the queue; QueueDoesNotExist (404) otherwise."""
    if not queue_scope(request.user).can_see(name):
        raise QueueDoesNotExist(name)
    return name


def task_fragments(request: HttpRequest, ids: list[str]) -> Callable[[], list[str]]:
    """The task's panel (detail page) or rows (list pages), as the form says it shows."""
    kind = "task-panel" if request.POST.get("shown") == "panel" else "task-row"
    return lambda: [response_fragment(kind, task_id, can_operate=True) for task_id in ids]


def queue_fragments(name: str) -> Callable[[], list[str]]:
    return lambda: [response_fragment("queue-header", name, can_operate=True)]


@operator_required
def task_cancel(request: HttpRequest, task_id: str) -> HttpResponse:
    def act() -> str:
        outcome = services.cancel(actor(request), visible(request, task_id))
        if outcome == "cancelled":
            return f"Cancelled task {task_id}."
        return f"Asked task {task_id} to stop: its worker hears it within a second."

    return perform(request, act, task_fragments(request, [task_id]))


@operator_required
def task_retry(request: HttpRequest, task_id: str) -> HttpResponse:
    def act() -> str:
        services.retry(actor(request), visible(request, task_id))
        return f"Task {task_id} is pending again."

    return perform(request, act, task_fragments(request, [task_id]))


@operator_required
def task_run_now(request: HttpRequest, task_id: str) -> HttpResponse:
    def act() -> str:
        services.run_now(actor(request), visible(request, task_id))
        return f"Task {task_id} is due now."

    return perform(request, act, task_fragments(request, [task_id]))


@operator_required
def task_delete(request: HttpRequest, task_id: str) -> HttpResponse:
    def act() -> str:
        services.delete(actor(request), visible(request, task_id))
        return f"Deleted task {task_id}."

    return perform(request, act, task_fragments(request, [task_id]))


BULK_VERBS = {"retry": "Retried", "cancel": "Cancelled", "delete": "Deleted"}


@operator_required
def bulk(request: HttpRequest) -> HttpResponse:
    action, ids = request.POST.get("action", ""), request.POST.getlist("ids")
    hidden: dict[str, str] = {}  # other queues' tasks: skipped as missing ones
    if len(ids) <= services.MAX_IDS:  # more: the service refuses them all
        kept = queue_scope(request.user).task_ids(ids)
        hidden = dict.fromkeys(set(ids) - set(kept), "missing")
        ids = kept

    def act() -> str:
        if action not in BULK_VERBS:
            raise ValidationError("Choose retry, cancel or delete.", field="action")
        if not ids and not hidden:
            raise ValidationError("Select at least one task.", field="ids")
        result = services.bulk(actor(request), action, ids)
        return bulk_message(BULK_VERBS[action], len(result.done), result.skipped | hidden)

    return perform(request, act, task_fragments(request, ids[:200]))


BULK_RULES = {
    "Retried": "only dead or cancelled tasks can be retried",
    "Cancelled": "only waiting or running tasks can be cancelled",
    "Deleted": "only finished tasks can be deleted",
}


def bulk_message(verb: str, done: int, skipped: dict[str, str]) -> str:
    """'Retried 3 tasks.', or what became of the others: 'Retried 1 of the 2 selected
    tasks. Not retried: 1 completed (only dead or cancelled tasks can be retried).'"""
    if not skipped:
        return f"{verb} {done} task{'s' if done != 1 else ''}."
    reasons: dict[str, int] = {}
    for status in skipped.values():
        reasons[status] = reasons.get(status, 0) + 1
    listed = ", ".join(f"{n} {status}" for status, n in sorted(reasons.items()))
    total = done + len(skipped)
    return (
        f"{verb} {done} of the {total} selected tasks. "
        f"Not {verb.lower()}: {listed} ({BULK_RULES[verb]})."
    )


@operator_required
def queue_pause(request: HttpRequest, name: str) -> HttpResponse:
    def act() -> str:
        services.pause(actor(request), visible_queue(request, name))
        return f"Paused {name}: workers take none of its tasks until it is resumed."

    return perform(request, act, queue_fragments(name))


@operator_required
def queue_resume(request: HttpRequest, name: str) -> HttpResponse:
    def act() -> str:
        services.resume(actor(request), visible_queue(request, name))
        return f"Resumed {name}."

    return perform(request, act, queue_fragments(name))


@operator_required
def queue_purge(request: HttpRequest, name: str) -> HttpResponse:
    """Two steps: a post without `confirmation` notes the pending tasks and shows how
    many in a confirmation panel; the panel posts the token back, and exactly those
    tasks that are still pending are deleted (docs/console.md#exact-bulk-actions)."""
    token = request.POST.get("confirmation")
    shown: dict = {}

    def act() -> str:
        queue = visible_queue(request, name)
        if token is not None:
            try:
                return purge_message(queue, services.purge_confirmed(actor(request), queue, token))
            except ValidationError as exc:
                if exc.field != "confirmation":
                    raise
                messages.error(request, f"{exc} The count below is a new one.")
        shown["noted"] = services.confirm_purge(queue)  # the panel says how many
        if not getattr(request, "htmx", False):  # the panel is an htmx fragment
            messages.error(request, "Purging asks for a confirmation, which needs JavaScript.")
        return ""

    def refresh() -> list[str]:
        panel = purge_panel(request, name, shown.get("noted"))
        return [panel] if "noted" in shown else [panel, *queue_fragments(name)()]

    return perform(request, act, refresh)


def purge_panel(request: HttpRequest, name: str, noted) -> str:
    context = {"q": {"name": name}, "noted": noted, "oob": True}
    return render_to_string("dashboard/queue.html#purge-confirm", context, request=request)


def purge_message(queue: str, result: services.Confirmed) -> str:
    done = f"{result.done} pending task{'s' if result.done != 1 else ''} of {queue}"
    if result.done == result.confirmed:
        return f"Deleted {done}, the ones you confirmed; tasks that arrived since were kept."
    return (
        f"Deleted {done}, of the {result.confirmed} you confirmed; "
        f"{not_any_more(result.skipped, 'pending')}. Tasks that arrived since were kept."
    )


def not_any_more(skipped: dict[str, int], what: str) -> str:
    """'3 were no longer pending (2 completed, 1 cancelled)'."""
    n = sum(skipped.values())
    listed = ", ".join(f"{count} {status}" for status, count in sorted(skipped.items()))
    return f"{n} {'was' if n == 1 else 'were'} no longer {what} ({listed})"
