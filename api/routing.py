"""Method dispatch for the API's views: 405 as JSON, authentication per method, and
engine exceptions turned into the one error shape.

    @requires("read")
    def list_tasks(request, principal): ...

    path("tasks", route(GET=list_tasks, POST=enqueue))
"""

from collections.abc import Callable

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from taskqueue.errors import TaskQueueError

from .auth import authenticate
from .errors import ApiError, error_response, from_engine

PUBLIC = None


def requires(scope: str | None, *, unless: Callable | None = None) -> Callable:
    """Declare the scope a handler needs (PUBLIC: no authentication at all); `unless`,
    a predicate on the request, may waive it (e.g. /metrics from a trusted network)."""

    def mark(handler: Callable) -> Callable:
        handler.scope = scope
        handler.unless = unless or (lambda request: False)
        return handler

    return mark


def route(**handlers: Callable) -> Callable:
    """A view calling handlers[request.method](request, principal, **url_kwargs)."""
    allowed = ", ".join(sorted(handlers))

    @csrf_exempt  # session requests are CSRF-checked in auth.authenticate instead
    def view(request, **kwargs) -> HttpResponse:
        handler = handlers.get(request.method)
        if handler is None:
            return method_not_allowed(request, allowed)
        try:
            public = handler.scope is PUBLIC or handler.unless(request)
            principal = None if public else authenticate(request, handler.scope)
            return handler(request, principal, **kwargs)
        except ApiError as exc:
            return exc.response()
        except TaskQueueError as exc:
            return from_engine(exc).response()

    view.handlers = handlers
    return view


def method_not_allowed(request, allowed: str) -> JsonResponse:
    message = f"{request.method} is not allowed here; use {allowed}."
    return error_response(405, "method_not_allowed", message, headers={"Allow": allowed})


@csrf_exempt  # a JSON 404 for any method, never Django's CSRF page
def not_found(request, path: str = "") -> JsonResponse:
    """Every /api/v1/ path that names no endpoint."""
    return error_response(404, "not_found", f"No API endpoint at {request.path!r}.")
