"""Who is acting, and the record of what they did.

Every service function takes an Actor and, once its action succeeded, writes exactly
one AuditEvent. A failed action (bad input, illegal transition, Redis down) records
nothing: the trail lists what happened, not what was attempted.
"""

import ipaddress
import logging
from dataclasses import dataclass

from django.db import DatabaseError

from .record_fields import as_text

log = logging.getLogger("taskqueue.audit")


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
            ip=_ip(request.META.get("REMOTE_ADDR")),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
        )


def record(actor: Actor, action: str, **fields) -> None:
    """Write the event. Text is stored without NUL characters (PostgreSQL cannot hold
    them, and a failed insert would leave an action that already happened unrecorded),
    bytes that were not UTF-8 (an id written straight into Redis) as U+FFFD, and cut to
    its column's width."""
    # Imported when an event is written, so that importing Actor (plain data) needs
    # no app registry: a model class can only be built once Django's apps are loaded.
    from .models import AuditEvent

    event = {
        "actor": actor.name,
        "user_id": actor.user_id,
        "source": actor.source,
        "action": action,
        "ip": _ip(actor.ip),
        "user_agent": actor.user_agent,
        **fields,
    }
    event = {name: _fitted(AuditEvent, name, _clean(value)) for name, value in event.items()}
    try:
        AuditEvent.objects.create(**event)
    except DatabaseError:
        # The action has happened; at least the log keeps what the table could not.
        log.error("audit event NOT recorded (database error): %r", event, exc_info=True)
        raise


def _fitted(model, name: str, value):
    """Text cut to the width of its column (a CharField's max_length)."""
    width = getattr(model._meta.get_field(name), "max_length", None)
    return value[:width] if width and isinstance(value, str) else value


def _clean(value):
    if isinstance(value, str):
        return as_text(value).replace("\x00", "")
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _ip(value: str | None) -> str | None:
    """A valid IP address, or None (a proxy header could carry anything)."""
    try:
        return str(ipaddress.ip_address(value)) if value else None
    except ValueError:
        return None
