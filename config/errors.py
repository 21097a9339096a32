"""Error pages for the whole site (handler400/403/404/500 in config/urls.py, and
CSRF_FAILURE_VIEW in settings): /api/... answers the API's JSON error shape, everything
else the console's pages."""

from api.errors import error_response
from dashboard import errors as console

API_PREFIX = "/api/"


def _api(request) -> bool:
    return request.path.startswith(API_PREFIX)


def bad_request(request, exception=None):
    if _api(request):
        return error_response(400, "bad_request", "The request could not be understood.")
    return console.bad_request(request, exception)


def forbidden(request, exception=None):
    if _api(request):
        return error_response(403, "forbidden", "You may not do this.")
    return console.forbidden(request, exception)


def csrf_failure(request, reason=""):
    if _api(request):
        return error_response(403, "csrf_failed", "CSRF check failed: reload and try again.")
    return console.csrf_failure(request, reason)


def not_found(request, exception=None):
    if _api(request):
        return error_response(404, "not_found", f"No API endpoint at {request.path[:200]!r}.")
    return console.not_found(request, exception)


def server_error(request):
    if _api(request):
        return error_response(500, "server_error", "Something went wrong on our side.")
    return console.server_error(request)
