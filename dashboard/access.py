"""Who may see and who may act: the two console permissions, checked on every view.

Viewers hold `taskqueue.view_console`; operators also hold `taskqueue.operate_tasks`
(superusers hold both). Anonymous users are sent to the login page; a logged-in user
without the permission gets 403. Actions are POST only, and CSRF-checked by Django's
middleware like every POST (none of these views is exempt).
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

VIEW = "taskqueue.view_console"
OPERATE = "taskqueue.operate_tasks"


def can_view(user) -> bool:
    return user.is_authenticated and user.has_perm(VIEW)


def can_operate(user) -> bool:
    return can_view(user) and user.has_perm(OPERATE)


def _guard(check: Callable) -> Callable:
    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return _to_login(request)
            if not check(request.user):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return guarded

    return decorator


def _to_login(request: HttpRequest) -> HttpResponse:
    if getattr(request, "htmx", False):
        # An htmx request would swap the login page into a fragment: reload instead.
        return HttpResponseClientRedirect(redirect_to_login(request.get_full_path()).url)
    return redirect_to_login(request.get_full_path())


def viewer_required(view: Callable) -> Callable:
    """A console page: GET (and HEAD) only, for users who may view the console."""
    return _guard(can_view)(require_GET(view))


def operator_required(view: Callable) -> Callable:
    """A console action: POST only, for users who may act on tasks and queues."""
    guarded = _guard(can_operate)(require_POST(view))
    guarded.console_action = True
    return guarded
