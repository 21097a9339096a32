"""Requeue and purge dead letters: the selected ones or all matching the filter.

Two steps, so the operator sees how many first: a post without `confirm` counts
(the service's dry run) and shows a confirmation naming the count; the confirmation
posts again with `confirm` and the same selection, and the action runs. (The
confirmation is an htmx fragment: this two-step flow needs JavaScript.)

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
from .actions import actor, perform
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


def selection(request: HttpRequest, confirming: bool) -> Selection:
    post, prefix = request.POST, "confirm_" if confirming else ""
    scope = post.get(f"{prefix}scope", "")
    to_queue = post.get(f"{prefix}to_queue") or None
    if scope == "selected":
        ids = post.getlist(f"{prefix}ids" if confirming else "ids")
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


def run(request: HttpRequest, verb: str, sel: Selection, dry_run: bool) -> int:
    scope = queue_scope(request.user)
    parts = scope.dead_selections(ids=sel.ids, flt=sel.flt)
    if verb == "Requeue":
        if sel.to_queue is not None and not scope.can_see(sel.to_queue):
            raise QueueDoesNotExist(sel.to_queue)
        return sum(
            services.requeue_dead(actor(request), **part, to_queue=sel.to_queue, dry_run=dry_run)
            for part in parts
        )
    return sum(services.purge_dead(actor(request), **part, dry_run=dry_run) for part in parts)


def preview(verb: str, sel: Selection, count: int) -> dict:
    url_name = "dashboard:dead-requeue" if verb == "Requeue" else "dashboard:dead-purge"
    return {
        "verb": verb,
        "count": count,
        "describe": sel.describe(),
        "ids": sel.ids or [],
        "scope": sel.scope,
        "to_queue": sel.to_queue or "",
        "url": reverse(url_name),
        "danger": verb != "Requeue",
    }


def confirm_panel(request: HttpRequest, preview: dict | None) -> str:
    context = {"preview": preview, "oob": True}
    return render_to_string("dashboard/dead.html#dlq-confirm", context, request=request)


def handle(request: HttpRequest, verb: str) -> HttpResponse:
    confirming = "confirm" in request.POST
    holder: dict = {}

    def act() -> str:
        sel = holder["sel"] = selection(request, confirming)
        # the rows to refresh: read before the action (a requeue elsewhere deletes them)
        holder["shown"] = queue_scope(request.user).task_ids((sel.ids or [])[:200])
        count = run(request, verb, sel, dry_run=not confirming)
        holder["count"] = count
        if not confirming:
            return ""  # the confirmation panel says it
        done = "Requeued" if verb == "Requeue" else "Deleted"
        return f"{done} {count} dead letter{'s' if count != 1 else ''}."

    def refresh() -> list[str]:
        sel = holder["sel"]
        if not confirming:
            return [confirm_panel(request, preview(verb, sel, holder["count"]))]
        rows = [response_fragment("task-row", i, can_operate=True) for i in holder["shown"]]
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
