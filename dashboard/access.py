"""Who may see and who may act: the two console permissions, checked on every view.

Viewers hold `taskqueue.view_console`; operators also hold `taskqueue.operate_tasks`
(superusers hold both). Anonymous users are sent to the login page; a logged-in user
without the permission gets 403. Actions are POST only, and CSRF-checked by Django's
middleware like every POST (none of these views is exempt).

Queue-level access: TASKQUEUE["QUEUE_ACCESS"] = {"group": ["queue", ...]} limits the
users of those groups to the union of their queues (QueueScope below); the views, the
actions, the live socket and session calls to the API all ask `queue_scope(user)`.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from taskqueue import inspect, services
from taskqueue.conf import get_config
from taskqueue.errors import TaskDoesNotExist
from taskqueue.inspect import TaskFilter
from taskqueue.records import TaskRecord

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


# -- queue-level access -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueScope:
    """The queues someone may see and touch: `names`, or every queue when None.

    Whatever lies outside reads as missing: a task or a queue there answers as one that
    does not exist (404), and lists leave it out."""

    names: frozenset[str] | None = None

    @property
    def limited(self) -> bool:
        return self.names is not None

    def can_see(self, queue: object) -> bool:
        return self.names is None or queue in self.names

    def visible(self, queues: Iterable[str]) -> list[str]:
        return [queue for queue in queues if self.can_see(queue)]

    def sees_any(self, queues: Iterable[str]) -> bool:
        """Whether something serving `queues` (a worker) is shown: always when not
        limited (a worker whose entry names no queue included), else if one is visible."""
        return self.names is None or any(queue in self.names for queue in queues)

    def narrowed(self, other: "QueueScope") -> "QueueScope":
        """The queues both allow (an API token never reaches past its user)."""
        if self.names is None or other.names is None:
            return other if self.names is None else self
        return QueueScope(self.names & other.names)

    def task(self, task_id: str) -> TaskRecord:
        """The task, or TaskDoesNotExist if there is none *or* it is in another queue."""
        record = inspect.get_task(task_id)
        if not self.can_see(record.queue):
            raise TaskDoesNotExist(task_id)
        return record

    def task_ids(self, ids: Iterable[str]) -> list[str]:
        """Those of `ids` whose task is in a visible queue (one read per id when limited;
        the others are left out, as missing ids are)."""
        ids = list(ids)
        if self.names is None:
            return ids
        kept = []
        for task_id in ids:
            try:
                self.task(task_id)
            except TaskDoesNotExist:
                continue
            kept.append(task_id)
        return kept

    def dead_selections(self, ids=None, flt: TaskFilter | None = None) -> list[dict]:
        """A choice of dead letters (ids, or a filter) cut to the visible queues, as the
        keyword arguments of services.requeue_dead / purge_dead: other queues' ids are
        left out, a filter naming no queue runs once per visible queue."""
        if not self.limited:
            return [{"ids": ids, "flt": flt}]
        if ids is not None:
            malformed = not isinstance(ids, list) or len(ids) > services.MAX_IDS
            if malformed or not all(isinstance(i, str) for i in ids):
                return [{"ids": ids}]  # the service refuses it before reading anything
            return [{"ids": self.task_ids(ids)}]
        if flt is None or flt.queue is not None:
            return [{"flt": flt}] if flt is None or self.can_see(flt.queue) else []
        return [{"flt": replace(flt, queue=queue)} for queue in sorted(self.names)]


EVERY_QUEUE = QueueScope()


def queue_access() -> dict:
    """TASKQUEUE["QUEUE_ACCESS"]: {"group name": ["queue", ...]}; {} when unset."""
    return dict(get_config().QUEUE_ACCESS)


def queue_scope(user) -> QueueScope:
    """A superuser, or a user in none of QUEUE_ACCESS's groups, sees every queue; a
    user in some sees the union of their queues. Kept on the user object: read once
    per request (or per socket check)."""
    cached = getattr(user, "_queue_scope", None)
    if cached is not None:
        return cached
    user._queue_scope = scope = _scope_of(user)
    return scope


def _scope_of(user) -> QueueScope:
    access = queue_access()
    if not access or not user.is_authenticated or user.is_superuser:
        return EVERY_QUEUE
    groups = user.groups.filter(name__in=list(access)).values_list("name", flat=True)
    if not groups:
        return EVERY_QUEUE
    return QueueScope(frozenset(q for group in groups for q in access[group]))


def can_see_queue(user, queue: object) -> bool:
    return queue_scope(user).can_see(queue)


def visible_queue(user, name: str) -> str:
    """`name`, if it is a known queue the user may see; Http404 otherwise."""
    if name not in inspect.queues() or not can_see_queue(user, name):
        raise Http404("No such queue")
    return name


def visible_task(user, task_id: str) -> TaskRecord:
    """The task, if the user may see its queue; Http404 otherwise."""
    try:
        return queue_scope(user).task(task_id)
    except TaskDoesNotExist:
        raise Http404("No such task") from None
