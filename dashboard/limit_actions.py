"""Set a queue's flow-control limits and quotas from the queue page's Limits section
(docs/console.md, "Limits"): operators only, POST, CSRF-checked, audited by
taskqueue.flow.set_limit and set_quota.

One form sets the rate (with its burst) and the concurrency limit of one scope: the
queue (task and tenant left blank), one task name, or one tenant ("*": the limit each
tenant has on its own); a task and a tenant together are refused, as the API refuses
them. The same form sets the queue's quotas (its backlog at most, and each tenant's),
which are the whole queue's: not with a task or a tenant. Each kind is set to a value,
to "no limit" (no quota), back to the declared one, or left as it is (its field left
blank). A row's "Back to declared" button posts `declared` and drops the operator's
values of that scope (`declared=quotas`: of the quotas).

A refused form comes back with its values and the error next to it: for htmx as the
form swapped out-of-band, for a plain post as the queue page (400). A queue the user
may not see answers 404, as one that does not exist.
"""

from dataclasses import dataclass, fields

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.template.loader import render_to_string

from taskqueue import flow
from taskqueue.errors import TaskQueueError, ValidationError
from taskqueue.flow import DECLARED
from taskqueue.limits import Rate, check_backlog, check_concurrency, parse_rate
from taskqueue.options import shown
from taskqueue.options import tenant as check_tenant

from .access import operator_required, visible_queue
from .actions import ERROR_STATUS, actor, respond
from .fragments import response_fragment
from .views import queue_page

MODES = ("set", "none", "declared")  # a value (blank: as it is), no limit, declared
KEEP = object()  # the kind is left as it is
QUOTAS = {"max_backlog": "max backlog", "tenant_backlog": "per-tenant backlog"}
QUOTAS_DECLARED = "quotas"  # the quota row's "Back to declared"
MAX_TEXT = 201  # a longer task name is still refused (200 at most), not cut to fit
MAX_DIGITS = 20  # a longer number is refused without being repeated (as the API does)
MAX_RATE_TEXT = 32  # '1000000/30s' and spaces; longer is no rate (as the API)
EVERY_TENANT = "*"  # flow.set_limit(tenant="*"): the limit each tenant has on its own


@dataclass
class LimitForm:
    """The limit form as posted (plain text, cut short), and its error."""

    task: str = ""
    tenant: str = ""
    rate: str = ""
    burst: str = ""
    rate_mode: str = "set"
    concurrency: str = ""
    concurrency_mode: str = "set"
    max_backlog: str = ""
    max_backlog_mode: str = "set"
    tenant_backlog: str = ""
    tenant_backlog_mode: str = "set"
    error: str = ""

    @classmethod
    def posted(cls, post: QueryDict) -> "LimitForm":
        def value(name: str, default: str) -> str:
            return post.get(name, default).strip()[:MAX_TEXT]

        names = [f for f in fields(cls) if f.name != "error"]
        return cls(**{f.name: value(f.name, f.default) for f in names})


def number(text: str, kind: str) -> int | str:
    """A whole number as an int; anything else as it is (the check names it). A long
    text is refused here, so that the message does not repeat it."""
    if len(text) > MAX_DIGITS:
        if text.lstrip("+-").isdigit():
            message = f"{kind} must be a small whole number, not {MAX_DIGITS}+ digits."
        else:
            message = f"{kind} must be a whole number, not {shown(text)}."
        raise ValidationError(message, field=kind)
    try:
        return int(text)
    except ValueError:
        return text


def mode(value: str, kind: str, given: str, none: str = "no limit") -> str:
    """The choice for one kind; a value given along with "no limit" or "declared" is
    refused rather than guessed at."""
    if value not in MODES:
        raise ValidationError(f"{kind}: choose a value, {none} or declared.", field=kind)
    if value != "set" and given:
        choice = none if value == "none" else "back to declared"
        raise ValidationError(f"{kind}: give a value or choose {choice}, not both.", field=kind)
    return value


def rate_of(form: LimitForm):
    """The rate to set: a Rate, None (no limit), DECLARED, or KEEP."""
    chosen = mode(form.rate_mode, "rate", form.rate or form.burst)
    if chosen == "set" and not form.rate:
        if form.burst:
            raise ValidationError("A burst needs a rate.", field="burst")
        return KEEP
    if chosen == "set" and len(form.rate) > MAX_RATE_TEXT:
        raise ValidationError('rate must be a rate like "100/s", "3/m", "10/30s".', field="rate")
    if chosen == "set":
        return parse_rate(form.rate, number(form.burst, "burst") if form.burst else None)
    return None if chosen == "none" else DECLARED


def concurrency_of(form: LimitForm):
    """The concurrency limit to set: a number, None (no limit), DECLARED, or KEEP."""
    chosen = mode(form.concurrency_mode, "concurrency", form.concurrency)
    if chosen == "set" and form.concurrency:
        return check_concurrency(number(form.concurrency, "concurrency"))
    if chosen == "set":
        return KEEP
    return None if chosen == "none" else DECLARED


def quota_of(form: LimitForm, kind: str):
    """A quota to set ("max_backlog" or "tenant_backlog"): a number, None (no quota),
    DECLARED, or KEEP."""
    text = getattr(form, kind)
    chosen = mode(getattr(form, f"{kind}_mode"), kind, text, none="no quota")
    if chosen == "set":
        return check_backlog(number(text, kind), kind) if text else KEEP
    return None if chosen == "none" else DECLARED


def tenant_of(form: LimitForm) -> str | None:
    """The tenant whose limits to set ("*": each tenant's), or None; not with a task
    (the API's rules and words: api/views/limits.py)."""
    if not form.tenant:
        return None
    if form.task:
        raise ValidationError(
            "A limit is a task name's or a tenant's: send one of them.", field="tenant"
        )
    return form.tenant if form.tenant == EVERY_TENANT else check_tenant(form.tenant)


def kept(queue: str, task: str | None, tenant: str | None = None) -> tuple:
    """The scope's operator values as they are now, to leave a kind unchanged
    (set_limit sets both kinds: the declared one where no operator's is set)."""
    limits = flow.queue_limits(queue)
    if tenant is not None:
        scope = limits.tenants.get(tenant)
    else:
        scope = limits.own if task is None else limits.tasks.get(task)
    if scope is None:
        return DECLARED, DECLARED
    rate = DECLARED if scope.override_rate is None else scope.rate
    concurrency = DECLARED if scope.override_concurrency is None else scope.concurrency
    return rate, concurrency


def kept_quotas(queue: str) -> dict:
    """The operator's quotas as they are now (DECLARED: none set), to leave one unchanged."""
    now = flow.queue_limits(queue).quotas_set
    return {
        kind: DECLARED if now.get(kind) is None else (int(now[kind]) if now[kind] else None)
        for kind in QUOTAS
    }


def described(kind: str, value, none: str | None = None) -> str:
    if value is KEEP:
        return f"{kind} unchanged"
    if value is None:
        return none or f"no {kind} limit"
    if value == DECLARED:
        return f"declared {kind}"
    if isinstance(value, Rate):
        return f"rate {value}" + (f" (burst {value.burst:,})" if value.burst > 1 else "")
    return f"{kind} {value:,} at once" if kind == "concurrency" else f"{kind} {value:,}"


def scope_text(queue: str, task: str | None, tenant: str | None) -> str:
    if tenant == EVERY_TENANT:
        return f"each tenant in {queue}"
    if tenant is not None:
        return f"tenant {tenant} in {queue}"
    return f"queue {queue}" if task is None else f"task {task} in {queue}"


def set_limits(request, queue: str, task, tenant, rate, concurrency, what: str) -> str:
    """Set the scope's rate and concurrency (KEEP: the operator's value as it is)."""
    if KEEP in (rate, concurrency):
        old_rate, old_concurrency = kept(queue, task, tenant)
        rate = old_rate if rate is KEEP else rate
        concurrency = old_concurrency if concurrency is KEEP else concurrency
    moved = flow.set_limit(
        actor(request), queue, task, rate=rate, concurrency=concurrency, tenant=tenant
    )
    held = f"{moved:,} held task{'s' if moved != 1 else ''} back in line"
    return f"Limit set: {scope_text(queue, task, tenant)}, {what} ({held})."


def set_quotas(request, queue: str, quotas: dict) -> str:
    """Set the queue's quotas (KEEP: the operator's value as it is)."""
    what = ", ".join(described(QUOTAS[k], v, f"no {QUOTAS[k]}") for k, v in quotas.items())
    if KEEP in quotas.values():
        old = kept_quotas(queue)
        quotas = {k: old[k] if v is KEEP else v for k, v in quotas.items()}
    flow.set_quota(actor(request), queue, **quotas)
    return f"Quotas set: queue {queue}, {what}."


def back_to_declared(request, queue: str, task, tenant) -> str:
    if request.POST.get("declared") == QUOTAS_DECLARED:
        flow.set_quota(actor(request), queue)
        return f"Quotas set: queue {queue}, back to declared."
    return set_limits(request, queue, task, tenant, DECLARED, DECLARED, "back to declared")


def set_from(request: HttpRequest, queue: str, form: LimitForm) -> str:
    """Set what the form says (everything checked before anything is written); the
    message that tells it."""
    task, tenant = form.task or None, tenant_of(form)
    if "declared" in request.POST:
        return back_to_declared(request, queue, task, tenant)
    rate, concurrency = rate_of(form), concurrency_of(form)
    quotas = {kind: quota_of(form, kind) for kind in QUOTAS}
    limits_given = rate is not KEEP or concurrency is not KEEP
    named = [kind for kind, value in quotas.items() if value is not KEEP]
    if named and (task or tenant):
        message = f"{named[0]} is a quota of the whole queue: send it without a task or tenant."
        raise ValidationError(message, field=named[0])
    if not limits_given and not named:
        raise ValidationError(
            "Nothing to set: give a rate, a concurrency limit or a quota, or choose no "
            "limit or declared.",
            field="rate",
        )
    said = []
    if limits_given:
        what = f"{described('rate', rate)}, {described('concurrency', concurrency)}"
        said.append(set_limits(request, queue, task, tenant, rate, concurrency, what))
    if named:
        said.append(set_quotas(request, queue, quotas))
    return " ".join(said)


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
                 for kind in ("queue-header", "queue-limits", "queue-tenants")]  # fmt: skip
    return respond(request, [*refreshed, form_html(request, name, None)])
