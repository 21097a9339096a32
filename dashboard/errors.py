"""The console's error pages: 400, 403, 404 and 500 inside the console's layout (its
navigation and the logout button), instead of Django's bare pages. config/errors.py
sends /api/ paths to the API's JSON errors and everything else here.

The 404, 403 and 400 pages are rendered with the request (the user, the queue scope:
the database, never Redis). The 500 page reads nothing: it is rendered from a static
template without the request's context processors, and if even that fails a constant
page is returned, so it answers with the database or Redis down. No page echoes an
exception's text (only our own Http404 messages, escaped like everything shown)."""

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseServerError
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.template import loader
from django.urls import Resolver404

from taskqueue.archive import archived_task

from .access import can_operate, queue_scope

SHOWN_PATH = 200  # characters of the requested path shown back
SHOWN_MESSAGES = {"No such queue", "No such task", "No such workflow"}

BARE_500 = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Server error'
    " · taskqueue</title></head><body><h1>Server error</h1><p>Something went wrong on"
    ' our side; it has been logged. <a href="/">Back to the overview</a></p></body></html>'
)


def _console_context(request: HttpRequest) -> dict:
    """What base.html needs for its navigation and logout; the database only. (A
    request refused before the authentication middleware ran has no user.)"""
    user = getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated
    return {
        "can_operate": signed_in and can_operate(user),
        "queues_limited": signed_in and queue_scope(user).limited,
        "shown_path": request.path[:SHOWN_PATH],
        "truncated": len(request.path) > SHOWN_PATH,
    }


def error_page(request: HttpRequest, status: int, context: dict) -> HttpResponse:
    context = _console_context(request) | {"status": status} | context
    return render(request, "dashboard/error.html", context, status=status)


def not_found(request: HttpRequest, exception=None) -> HttpResponse:
    message = ""
    if isinstance(exception, Http404) and not isinstance(exception, Resolver404):
        message = str(exception) if str(exception) in SHOWN_MESSAGES else ""
    return error_page(request, 404, {"title": "Not found", "message": message})


def forbidden(request: HttpRequest, exception=None) -> HttpResponse:
    return error_page(request, 403, {"title": "Not allowed"})


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form posted without a valid CSRF token (settings.CSRF_FAILURE_VIEW): nothing
    was done; the reason is Django's and is not shown."""
    return error_page(request, 403, {"title": "Form expired", "csrf": True})


def bad_request(request: HttpRequest, exception=None) -> HttpResponse:
    return error_page(request, 400, {"title": "Bad request"})


def missing_task(request: HttpRequest, task_id: str) -> HttpResponse:
    """The 404 of a task that is not in Redis (or in a queue the user may not see),
    with its archived record when there is one the user may see."""
    row = archived_task(task_id)
    if row is not None and not queue_scope(request.user).can_see(row.queue):
        row = None
    context = {"title": "Task not found", "task_id": task_id[:SHOWN_PATH], "archived": row}
    return error_page(request, 404, context | {"section": "tasks"})


def server_error(request: HttpRequest) -> HttpResponse:
    """The 500 page: a static template and no reads (the user is not looked up: the
    navigation shows when the request carries a session cookie)."""
    try:
        context = {
            "status": 500,
            "title": "Server error",
            "user": _SessionOnly(settings.SESSION_COOKIE_NAME in request.COOKIES),
            "can_operate": True,  # no role badge: the user is not read
            "csrf_token": get_token(request),
            "live": False,
        }
        return HttpResponseServerError(loader.get_template("dashboard/500.html").render(context))
    except Exception:  # the error page itself must not fail
        return HttpResponseServerError(BARE_500)


class _SessionOnly:
    """Stands in for request.user on the 500 page, which must not read the database:
    signed in as far as a session cookie says, no name, no staff link."""

    is_staff = False

    def __init__(self, has_session: bool):
        self.is_authenticated = has_session

    def get_username(self) -> str:
        return ""
