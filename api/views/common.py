"""Small helpers the views share: query parameters and JSON responses."""

import math

from django.http import JsonResponse

from taskqueue.inspect import MAX_PAGE

from ..errors import invalid

DEFAULT_LIMIT = 50


def ok(data: dict, status: int = 200, headers: dict | None = None) -> JsonResponse:
    return JsonResponse(data, status=status, headers=headers)


def query(request, name: str) -> str | None:
    """A query parameter, None when absent or empty."""
    return request.GET.get(name) or None


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
