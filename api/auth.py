"""Who is calling: a bearer token, or a logged-in console session.

- `Authorization: Bearer tq_...`: the token must be active, carry the scope the
  endpoint needs, and its user must be active and hold the matching permission
  (view_console for `read`, operate_tasks for `enqueue` and `operate`). No CSRF:
  a browser never attaches a bearer token by itself.
- No Authorization header: the session's user, with the same permissions, and the
  CSRF check on every mutating request.
Missing or bad credentials: 401 with WWW-Authenticate; lacking scope or permission: 403.

Queue-level access: `principal.queues` is what the caller may see (a token's own
queues, within those its user may see; a session user's, from QUEUE_ACCESS). A view
asks `can_see_queue`, or `task()` for a task; what lies outside reads as missing.

Tenant-level access: `principal.tenants` is the tenants whose tasks a token may touch
(None: anyone's, and tasks of no tenant). `can_see_task` is the one rule for a task:
its queue visible and, for a token limited to tenants, its tenant one of them; a task
of no tenant is outside every such token. `task()` applies it (404 outside).
"""

from dataclasses import dataclass

from django.middleware.csrf import CsrfViewMiddleware

from dashboard.access import EVERY_QUEUE, QueueScope, queue_scope
from taskqueue import inspect
from taskqueue.audit import Actor
from taskqueue.errors import TaskDoesNotExist
from taskqueue.records import TaskRecord

from .body import FORM_TYPES
from .errors import ApiError
from .models import ApiToken
from .tokens import SCOPE_PERMISSIONS, find_token, touch

REALM = 'Bearer realm="taskqueue"'
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True, slots=True)
class Principal:
    user: object
    token: ApiToken | None = None
    queues: QueueScope = EVERY_QUEUE
    tenants: frozenset[str] | None = None  # None: anyone's tasks

    @property
    def limited(self) -> bool:
        """Limited to queues or to tenants: refused what spans both (workflows)."""
        return self.queues.limited or self.tenants is not None

    def can_see_queue(self, name: object) -> bool:
        return self.queues.can_see(name)

    def can_see_tenant(self, tenant: object) -> bool:
        return self.tenants is None or (isinstance(tenant, str) and tenant in self.tenants)

    def can_see_task(self, record: TaskRecord) -> bool:
        return self.can_see_queue(record.queue) and self.can_see_tenant(record.tenant)

    def task(self, task_id: str) -> TaskRecord:
        """The task; TaskDoesNotExist (a 404) if there is none, or if it lies outside
        the caller's queues or tenants."""
        record = inspect.get_task(task_id)
        if not self.can_see_task(record):
            raise TaskDoesNotExist(task_id)
        return record

    def task_ids(self, ids: list[str]) -> list[str]:
        """Those of `ids` whose task the caller may see (the others left out, as missing
        ids are): one read per id."""
        kept = []
        for task_id in ids:
            try:
                self.task(task_id)
            except TaskDoesNotExist:
                continue
            kept.append(task_id)
        return kept

    def actor(self, request) -> Actor:
        if self.token is None:
            return Actor.from_request(request, "api")
        seen = Actor.from_request(request, "api", name=self.token.label)
        return Actor(seen.name, "api", self.user.pk, seen.ip, seen.user_agent)


def authenticate(request, scope: str) -> Principal:
    """The caller, allowed to use `scope`; ApiError(401/403) otherwise."""
    header = request.META.get("HTTP_AUTHORIZATION")
    principal = _from_token(header) if header is not None else _from_session(request)
    if principal.token is not None and scope not in principal.token.scopes:
        raise forbidden(f"This token lacks the {scope!r} scope.", insufficient_scope=True)
    permission = SCOPE_PERMISSIONS[scope]
    if not _holds(principal, permission):
        raise forbidden(f"User {principal.user.get_username()!r} lacks {permission}.")
    if principal.token is None and request.method not in SAFE_METHODS:
        _check_csrf(request)
    return principal


def _holds(principal: Principal, permission: str) -> bool:
    if principal.token is not None:  # looked up with the token, in the same query
        return permission in principal.token.granted
    return principal.user.has_perm(permission)


def _from_token(header: str) -> Principal:
    kind, _, token = header.partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise unauthorized("Use the header 'Authorization: Bearer <token>'.", "invalid_request")
    api_token = find_token(token.strip())
    if api_token is None or not api_token.is_active or not api_token.user.is_active:
        raise unauthorized(
            "The token is not valid (unknown, revoked, or its user is inactive).",
            "invalid_token",
        )
    touch(api_token)
    own = QueueScope(frozenset(api_token.queues)) if api_token.queues else EVERY_QUEUE
    tenants = frozenset(api_token.tenants) if api_token.tenants else None
    return Principal(api_token.user, api_token, api_token.user_queues.narrowed(own), tenants)


def _from_session(request) -> Principal:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        raise unauthorized("Authentication required: send 'Authorization: Bearer <token>'.")
    return Principal(user, queues=queue_scope(user))


class _CsrfCheck(CsrfViewMiddleware):
    def _reject(self, request, reason):
        return reason  # the reason, instead of Django's HTML 403 page


def _check_csrf(request) -> None:
    if request.content_type in FORM_TYPES:  # never parse a form body just to find a token
        raise ApiError(415, "unsupported_media_type", "Send the body as application/json.")
    check = _CsrfCheck(lambda r: None)
    check.process_request(request)
    reason = check.process_view(request, None, (), {})
    if reason:
        raise forbidden(f"CSRF check failed: {reason}", code="csrf_failed")


def unauthorized(message: str, error: str | None = None) -> ApiError:
    """401; `error` (RFC 6750) only when credentials were sent and are wrong."""
    challenge = REALM if error is None else f'{REALM}, error="{error}"'
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": challenge})


def forbidden(message: str, *, code: str = "forbidden", insufficient_scope: bool = False):
    headers = {"WWW-Authenticate": f'{REALM}, error="insufficient_scope"'}
    return ApiError(403, code, message, headers=headers if insufficient_scope else None)
