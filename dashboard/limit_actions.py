"""Set a queue's or a task name's flow-control limits from the queue page's Limits
section (docs/console.md, "Limits"): operators only, POST, CSRF-checked, audited by
taskqueue.flow.set_limit.

One form sets the rate (with its burst) and the concurrency limit of one scope: the
queue (task left blank) or one task name. Each kind is set to a value, to "no limit",
back to the declared one, or left as it is (its field left blank). A row's "Back to
declared" button posts `declared` and drops both of the operator's values.

A refused form comes back with its values and the error next to it: for htmx as the
form swapped out-of-band, for a plain post as the queue page (400). A queue the user
may not see answers 404, as one that does not exist.
"""

from dataclasses import dataclass

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.template.loader import render_to_string

from taskqueue import flow
from taskqueue.errors import TaskQueueError, ValidationError
from taskqueue.flow import DECLARED
from taskqueue.limits import Rate, check_concurrency, parse_rate

from .access import operator_required, visible_queue
from .actions import ERROR_STATUS, actor, respond
from .fragments import response_fragment
from .views import queue_page

MODES = ("set", "none", "declared")  # a value (blank: as it is), no limit, declared
KEEP = object()  # the kind is left as it is


@dataclass
class LimitForm:
    """The limit form as posted (plain text, cut short), and its error."""

    task: str = ""
    rate: str = ""
    burst: str = ""
    rate_mode: str = "set"
    concurrency: str = ""
    concurrency_mode: str = "set"
    error: str = ""

    @classmethod
    def posted(cls, post: QueryDict) -> "LimitForm":
        def value(name: str, default: str = "") -> str:
            # 201: a longer task name is still refused (200 at most), not cut to fit
            return post.get(name, default).strip()[:201]

        return cls(
            task=value("task"),
            rate=value("rate"),
            burst=value("burst"),
            rate_mode=value("rate_mode", "set"),
            concurrency=value("concurrency"),
            concurrency_mode=value("concurrency_mode", "set"),
        )


def number(text: str) -> int | str:
    """A whole number as an int; anything else as it is (the check names it)."""
    try:
        return int(text)
    except ValueError:
        return text


def mode(value: str, kind: str, given: str) -> str:
    """The choice for one kind; a value given along with "no limit" or "declared" is
    refused rather than guessed at."""
    if value not in MODES:
        raise ValidationError(f"{kind}: choose a value, no limit or declared.", field=kind)
    if value != "set" and given:
        choice = "no limit" if value == "none" else "back to declared"
        raise ValidationError(f"{kind}: give a value or choose {choice}, not both.", field=kind)
    return value


def rate_of(form: LimitForm):
    """The rate to set: a Rate, None (no limit), DECLARED, or KEEP."""
    chosen = mode(form.rate_mode, "rate", form.rate or form.burst)
    if chosen == "set" and not form.rate:
        if form.burst:
            raise ValidationError("A burst needs a rate.", field="burst")
        return KEEP
    if chosen == "set":
        return parse_rate(form.rate, number(form.burst) if form.burst else None)
    return None if chosen == "none" else DECLARED


def concurrency_of(form: LimitForm):
    """The concurrency limit to set: a number, None (no limit), DECLARED, or KEEP."""
    chosen = mode(form.concurrency_mode, "concurrency", form.concurrency)
    if chosen == "set":
        return check_concurrency(number(form.concurrency)) if form.concurrency else KEEP
    return None if chosen == "none" else DECLARED


def kept(queue: str, task: str | None) -> tuple:
    """The scope's operator values as they are now, to leave a kind unchanged
    (set_limit sets both kinds: the declared one where no operator's is set)."""
    limits = flow.queue_limits(queue)
    scope = limits.own if task is None else limits.tasks.get(task)
    if scope is None:
        return DECLARED, DECLARED
    rate = DECLARED if scope.override_rate is None else scope.rate
    concurrency = DECLARED if scope.override_concurrency is None else scope.concurrency
    return rate, concurrency


def described(kind: str, value) -> str:
    if value is KEEP:
        return f"{kind} unchanged"
    if value is None:
        return f"no {kind} limit"
    if value == DECLARED:
        return f"declared {kind}"
    if isinstance(value, Rate):
        return f"rate {value}" + (f" (burst {value.burst:,})" if value.burst > 1 else "")
    return f"{kind} {value:,} at once"


def set_from(request: HttpRequest, queue: str, form: LimitForm) -> str:
    """Set what the form says; the message that tells it."""
    task = form.task or None
    if "declared" in request.POST:
        rate = concurrency = DECLARED
        what = "back to declared"
    else:
        rate, concurrency = rate_of(form), concurrency_of(form)
        if rate is KEEP and concurrency is KEEP:
            raise ValidationError(
                "Nothing to set: give a rate or a concurrency limit, or choose no limit "
                "or declared.",
                field="rate",
            )
        what = f"{described('rate', rate)}, {described('concurrency', concurrency)}"
        if KEEP in (rate, concurrency):
            old_rate, old_concurrency = kept(queue, task)
            rate = old_rate if rate is KEEP else rate
            concurrency = old_concurrency if concurrency is KEEP else concurrency
    moved = flow.set_limit(actor(request), queue, task, rate=rate, concurrency=concurrency)
    scope = f"queue {queue}" if task is None else f"task {task} in {queue}"
    held = f"{moved:,} held task{'s' if moved != 1 else ''} back in line"
    return f"Limit set: {scope}, {what} ({held})."


def form_html(request: HttpRequest, queue: str, form: LimitForm | None) -> str:
    context = {"limits_queue": queue, "limit_form": form, "oob": True, "can_operate": True}
    return render_to_string("dashboard/_limits.html#limit-form", context, request=request)


@operator_required
def set_limit(request: HttpRequest, name: str) -> HttpResponse:
    visible_queue(request.user, name)  # Http404 for a queue the user may not see
    form = LimitForm.posted(request.POST)
    try:
        message = set_from(request, name, form)
    except ValidationError as exc:
        form.error = str(exc)
        if not getattr(request, "htmx", False):
            return queue_page(request, name, limit_form=form, status=400)
        return respond(request, [form_html(request, name, form)], 400)
    except TaskQueueError as exc:  # the queue went away, Redis is down
        messages.error(request, str(exc))
        return respond(request, [], next(c for k, c in ERROR_STATUS if isinstance(exc, k)))
    messages.success(request, message)
    refreshed = [response_fragment(kind, name, can_operate=True)
                 for kind in ("queue-header", "queue-limits")]  # fmt: skip
    return respond(request, [*refreshed, form_html(request, name, None)])
