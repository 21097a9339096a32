"""Who is acting, and the record of what they did.

Every service function takes an Actor and, once its action succeeded, writes exactly
one AuditEvent. A failed action (bad input, illegal transition, Redis down) records
nothing: the trail lists what happened, not what was attempted.
"""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Actor:
    name: str  # username, the API token's "user/token" name, or "system"
    source: str  # console, api, cli, admin, system
    user_id: int | None = None
    ip: str | None = None
    user_agent: str = ""

    @classmethod
    def system(cls) -> "Actor":
        return cls("system", "system")

    @classmethod
    def from_request(cls, request, source: str, name: str | None = None) -> "Actor":
        """The logged-in user (or `name`, e.g. an API token's) behind an HTTP request."""
        user = getattr(request, "user", None)
        authenticated = user is not None and user.is_authenticated
        return cls(
            name=name or (user.get_username() if authenticated else "anonymous"),
            source=source,
            user_id=user.pk if authenticated else None,
            ip=request.META.get("REMOTE_ADDR") or None,
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
        )


def record(actor: Actor, action: str, **fields) -> None:
    from .models import AuditEvent

    AuditEvent.objects.create(
        actor=actor.name[:150],
        user_id=actor.user_id,
        source=actor.source,
        action=action,
        ip=actor.ip,
        user_agent=actor.user_agent,
        **fields,
    )
