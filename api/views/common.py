"""Small helpers the views share: query parameters and JSON responses."""

import math

from django.http import JsonResponse

from taskqueue.errors import ValidationError
from taskqueue.inspect import MAX_PAGE
from taskqueue.options import tenant as check_tenant

from ..errors import ApiError, invalid

DEFAULT_LIMIT = 50


def ok(data: dict, status: int = 200, headers: dict | None = None) -> JsonResponse:
    return JsonResponse(data, status=status, headers=headers)


def query(request, name: str) -> str | None:
    """A query parameter, None when absent or empty."""
    return request.GET.get(name) or None


NOTHING = object()  # a listing's queue the caller may not see: the page is empty
EMPTY_PAGE = {"items": [], "next_cursor": None, "damaged": []}


def queue_param(request, principal):
    """The `queue` a listing is filtered by (None: every queue). A caller limited to
    queues gets NOTHING for another queue (as for one that does not exist), its one
    queue when it has one and names none, and a 422 when it has several and names none."""
    queue = query(request, "queue")
    scope = principal.queues
    if queue is not None:
        return queue if scope.can_see(queue) else NOTHING
    if not scope.limited:
        return None
    if len(scope.names) <= 1:
        return next(iter(scope.names), NOTHING)
    raise invalid(
        "queue",
        f"This caller may see only the queues {', '.join(sorted(scope.names))}: "
        "name one with ?queue=.",
    )


def tenant_param(request, principal):
    """The `tenant` a listing is filtered by (None: anyone's), checked as an enqueue's
    tenant is. A token limited to tenants gets NOTHING for another tenant, its one
    tenant when it has one and names none, and a 422 when it has several and names none."""
    raw = request.GET.get("tenant")
    if raw is not None:
        try:
            tenant = check_tenant(raw)
        except ValidationError as exc:
            raise invalid("tenant", str(exc)) from None
        return tenant if principal.can_see_tenant(tenant) else NOTHING
    if principal.tenants is None:
        return None
    if len(principal.tenants) == 1:
        return next(iter(principal.tenants))
    raise invalid(
        "tenant",
        f"This token may see only the tasks of the tenants {', '.join(sorted(principal.tenants))}"
        ": name one with ?tenant=.",
    )


def queue_not_found(name: str) -> ApiError:
    """The 404 of a queue that is not in use, or that the caller may not see."""
    return ApiError(404, "not_found", f"No queue named {name!r} is configured or in use.")


def limit_param(request) -> int:
    raw = request.GET.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if len(raw) > 4 or not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise invalid("limit", f"limit must be an integer from 1 to {MAX_PAGE}.")
    return int(raw)


def cursor_param(request) -> str | None:
    """An opaque cursor from a previous page: '<score>:<id>' with a finite score."""
    raw = query(request, "cursor")
    if raw is None:
        return None
    score, sep, _ = raw.partition(":")
    try:
        finite = bool(sep) and len(raw) <= 200 and math.isfinite(float(score))
    except ValueError:
        finite = False
    if not finite:
        raise invalid("cursor", "cursor must be a next_cursor value from a previous page.")
    return raw
