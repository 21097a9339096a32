"""Requeue and purge dead letters: the selected ones or all matching the filter.

Two steps, so the operator sees how many first, and the action takes exactly those:
a post without `confirmation` notes the chosen dead letters under a confirmation token
(services.confirm_dead) and shows a confirmation naming the count; the confirmation
posts the token back, and the action acts on the noted dead letters that are still
dead, never on one that died since (docs/console.md#exact-bulk-actions). The message
says what happened to any it no longer applied to. (The confirmation is an htmx
fragment: this two-step flow needs JavaScript.)

A user limited to queues (access.py) counts and acts on those queues' dead letters
only, and may requeue into one of them only.
"""

from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse

from taskqueue import services
from taskqueue.errors import QueueDoesNotExist, ValidationError
from taskqueue.inspect import TaskFilter

from .access import operator_required, queue_scope
from .actions import actor, not_any_more, perform
from .fragments import response_fragment


@dataclass
class Selection:
    scope: str  # "selected" or "matching"
    ids: list[str] | None
    flt: TaskFilter | None
    to_queue: str | None

    def describe(self) -> str:
        if self.ids is not None:
            what = f"the {len(self.ids)} selected"
        else:
            parts = [
                f"{label} {value}"
                for label, value in (
                    ("queue", self.flt.queue),
                    ("task", self.flt.name),
                    ("exception", self.flt.exception),
                )
                if value
            ]
            what = "all matching " + ", ".join(parts) if parts else "all, in every queue"
        return what + (f", into queue {self.to_queue}" if self.to_queue else "")


def selection(request: HttpRequest) -> Selection:
    post = request.POST
    scope = post.get("scope", "")
    to_queue = post.get("to_queue") or None
    if scope == "selected":
        ids = post.getlist("ids")
        if not ids:
            raise ValidationError("Select at least one dead letter.", field="ids")
        return Selection(scope, ids, None, to_queue)
    if scope == "matching":
        flt = TaskFilter(
            queue=post.get("queue") or None,
            name=post.get("name") or None,
            exception=post.get("exception") or None,
        )
        return Selection(scope, None, flt, to_queue)
    raise ValidationError("Choose the selected dead letters or all matching.", field="scope")


def note(request: HttpRequest, verb: str, sel: Selection) -> services.Confirmation:
    """Note the chosen dead letters (each visible queue's part under one token)."""
    scope = queue_scope(request.user)
    if verb == "Requeue" and sel.to_queue is not None and not scope.can_see(sel.to_queue):
        raise QueueDoesNotExist(sel.to_queue)
    token = services.new_token()
    count = sum(
        services.confirm_dead(token, **part).count
        for part in scope.dead_selections(ids=sel.ids, flt=sel.flt)
    )
    return services.Confirmation(token if count else None, count, count)


def act_on(request: HttpRequest, verb: str) -> services.Confirmed:
    """The confirmed action, on the dead letters noted under the posted token."""
    scope = queue_scope(request.user)
    token, to_queue = request.POST.get("confirmation"), request.POST.get("confirm_to_queue") or None
    queues = sorted(scope.names) if scope.limited else None
    if verb == "Purge":
        return services.purge_dead_confirmed(actor(request), token, queues=queues)
    if to_queue is not None and not scope.can_see(to_queue):
        raise QueueDoesNotExist(to_queue)
    return services.requeue_confirmed(actor(request), token, queues=queues, to_queue=to_queue)


def preview(verb: str, sel: Selection, noted: services.Confirmation) -> dict:
    url_name = "dashboard:dead-requeue" if verb == "Requeue" else "dashboard:dead-purge"
    return {
        "verb": verb,
        "count": noted.count,
        "token": noted.token or "",
        "describe": sel.describe(),
        "to_queue": sel.to_queue or "",
        "url": reverse(url_name),
        "danger": verb != "Requeue",
    }


def confirm_panel(request: HttpRequest, preview: dict | None) -> str:
    context = {"preview": preview, "oob": True}
    return render_to_string("dashboard/dead.html#dlq-confirm", context, request=request)


def done_message(verb: str, result: services.Confirmed) -> str:
    done = f"{'Requeued' if verb == 'Requeue' else 'Deleted'} {result.done}"
    if result.done == result.confirmed:
        return f"{done} dead letter{'s' if result.done != 1 else ''}, the ones you confirmed."
    return (
        f"{done} of the {result.confirmed} dead letters you confirmed; "
        + not_any_more(result.skipped, "dead")
        + "."
    )


def handle(request: HttpRequest, verb: str) -> HttpResponse:
    confirming = "confirmation" in request.POST
    holder: dict = {}

    def act() -> str:
        if not confirming:
            sel = selection(request)
            holder["preview"] = preview(verb, sel, note(request, verb, sel))
            return ""  # the confirmation panel says it
        result = act_on(request, verb)
        holder["shown"] = result.ids[:200]
        return done_message(verb, result)

    def refresh() -> list[str]:
        if not confirming:
            return [confirm_panel(request, holder["preview"])]
        shown = queue_scope(request.user).task_ids(holder["shown"])
        rows = [response_fragment("task-row", i, can_operate=True) for i in shown]
        if queue_scope(request.user).limited:  # the groups fragment counts every queue
            return [confirm_panel(request, None), *rows]
        groups = response_fragment("dead-groups", "all", can_operate=True)
        return [confirm_panel(request, None), groups, *rows]

    return perform(request, act, refresh)


@operator_required
def requeue(request: HttpRequest) -> HttpResponse:
    return handle(request, "Requeue")


@operator_required
def purge(request: HttpRequest) -> HttpResponse:
    return handle(request, "Purge")
