"""Throttling of the two password logins: the console's /login/ and the admin's
/admin/login/ (API bearer tokens are not passwords and are not throttled).

Wrong passwords are counted per account name and per client address. At
ACCOUNT_FAILURES for one name, or ADDRESS_FAILURES from one address, within
LOCKOUT_SECONDS, that name or address is locked for LOCKOUT_SECONDS from the failure
that locked it: every login for it is refused, the right password too, with a message
saying so, before any password is checked. A lockout is one audit event
(`login_locked`). A lock ends by itself, or sooner with `manage.py unlocklogin`
(audited as `login_unlocked`). A successful login forgets its account's failures,
not its address's.

The counts are rows in the database (LoginThrottle), so every web process and the
command see the same ones. Failures count for any name typed, existing or not, so a
lock tells nobody whether an account exists.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from math import ceil

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from taskqueue.audit import Actor, record
from taskqueue.models import AuditEvent

from .models import LoginThrottle

ACCOUNT, ADDRESS = LoginThrottle.Kind.ACCOUNT, LoginThrottle.Kind.ADDRESS


@dataclass(frozen=True)
class Limits:
    per_account: int = 5
    per_address: int = 20
    lockout_seconds: int = 900

    def of(self, kind: str) -> int:
        return self.per_account if kind == ACCOUNT else self.per_address


# LOGIN_THROTTLE's options, and the Limits field each sets
OPTIONS = {
    "ACCOUNT_FAILURES": "per_account",
    "ADDRESS_FAILURES": "per_address",
    "LOCKOUT_SECONDS": "lockout_seconds",
}


def limits() -> Limits:
    """The LOGIN_THROTTLE setting over the defaults (read per call: tests override it).
    A bad setting is reported by check dashboard.E001, and the defaults apply."""
    raw = getattr(settings, "LOGIN_THROTTLE", {})
    if problems(raw):
        return Limits()
    return Limits(**{OPTIONS[name]: value for name, value in raw.items()})


def problems(raw) -> list[str]:
    if not isinstance(raw, dict):
        return [f"LOGIN_THROTTLE must be a dict, not {type(raw).__name__}."]
    found = [f"Unknown LOGIN_THROTTLE option {name!r}." for name in raw if name not in OPTIONS]
    for name in set(OPTIONS).intersection(raw):
        if type(raw[name]) is not int or raw[name] < 1:
            found.append(f"LOGIN_THROTTLE[{name!r}] must be an int >= 1, not {raw[name]!r}.")
    return found


def now() -> datetime:
    return timezone.now()


@dataclass(frozen=True)
class Attempt:
    """One password login: the name typed, and who typed it from where (for the audit)."""

    username: str
    actor: Actor  # named after the username typed; its ip is the client's address

    @classmethod
    def of(cls, request, username: str, source: str) -> "Attempt":
        username = username[:150]
        if request is None:  # a form used outside a view
            return cls(username, Actor(username, source))
        return cls(username, Actor.from_request(request, source, name=username))

    def counters(self) -> list[tuple[str, str]]:
        address = [(ADDRESS, self.actor.ip)] if self.actor.ip else []
        return [(ACCOUNT, self.username), *address]


def locked_until(attempt: Attempt) -> datetime | None:
    """When the last lock on the attempt's account or address ends; None if unlocked."""
    current, limit = now(), limits()
    rows = LoginThrottle.objects.filter(_any_of(attempt.counters()), expires_at__gt=current)
    return max((r.expires_at for r in rows if r.failures >= limit.of(r.kind)), default=None)


def record_failure(attempt: Attempt) -> datetime | None:
    """Count a wrong password. Returns the end of the lock it set off, if it did."""
    current, limit = now(), limits()
    locked = None
    with transaction.atomic():
        LoginThrottle.objects.filter(expires_at__lte=current).delete()  # windows that ended
        for kind, value in attempt.counters():
            row = _count(kind, value, current, limit)
            if row.failures == limit.of(kind):
                _audit_lockout(attempt, row)
                locked = row.expires_at
    return locked


def _count(kind: str, value: str, current: datetime, limit: Limits) -> LoginThrottle:
    window = timedelta(seconds=limit.lockout_seconds)
    row, _ = LoginThrottle.objects.select_for_update().get_or_create(
        kind=kind, value=value, defaults={"expires_at": current + window}
    )
    row.failures += 1
    if row.failures >= limit.of(kind):
        row.expires_at = current + window  # the lock runs from the failure that set it
    row.save(update_fields=["failures", "expires_at"])
    return row


def record_success(attempt: Attempt) -> None:
    LoginThrottle.objects.filter(kind=ACCOUNT, value=attempt.username).delete()


def current_locks() -> list[LoginThrottle]:
    limit = limits()
    rows = LoginThrottle.objects.filter(expires_at__gt=now()).order_by("kind", "value")
    return [row for row in rows if row.failures >= limit.of(row.kind)]


def unlock(actor: Actor, accounts=(), addresses=()) -> list[LoginThrottle]:
    """Lift the current locks of these account names and addresses (their counts go
    too); one audit event when any was lifted. Returns the locks lifted."""
    keys = [(ACCOUNT, a) for a in accounts] + [(ADDRESS, a) for a in addresses]
    wanted = set(keys)
    lifted = [row for row in current_locks() if (row.kind, row.value) in wanted]
    if lifted:
        LoginThrottle.objects.filter(_any_of(keys)).delete()
        record(
            actor,
            AuditEvent.Action.LOGIN_UNLOCKED,
            count=len(lifted),
            detail={
                "accounts": [r.value for r in lifted if r.kind == ACCOUNT],
                "addresses": [r.value for r in lifted if r.kind == ADDRESS],
            },
        )
    return lifted


def _any_of(keys: list[tuple[str, str]]) -> Q:
    query = Q(pk__in=[])  # matches nothing when there are no keys
    for kind, value in keys:
        query |= Q(kind=kind, value=value)
    return query


def _audit_lockout(attempt: Attempt, row: LoginThrottle) -> None:
    detail = {
        "locked": row.kind,
        row.kind: row.value,
        "failures": row.failures,
        "until": row.expires_at.isoformat(),
    }
    record(attempt.actor, AuditEvent.Action.LOGIN_LOCKED, detail=detail)


def locked_error(until: datetime) -> ValidationError:
    minutes = max(1, ceil((until - now()).total_seconds() / 60))
    return ValidationError(
        "Too many failed logins for this account or from your address: logins are "
        "refused for %(minutes)d more minute(s). Try again later, or ask an "
        "administrator to unlock it.",
        code="locked",
        params={"minutes": minutes},
    )


class ThrottledLogin:
    """For an AuthenticationForm: a locked login is refused before the password is
    checked; a wrong password is counted; a right one forgets the account's failures."""

    source = "console"

    def clean(self):
        username, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
        if username is None or not password:
            return super().clean()  # nothing to check a password for (a field error)
        attempt = Attempt.of(self.request, username, self.source)
        until = locked_until(attempt)
        if until is not None:
            raise locked_error(until)
        try:
            cleaned = super().clean()
        except ValidationError:
            if self.user_cache is None:  # a wrong password, not an inactive or non-staff user
                until = record_failure(attempt)
                if until is not None:
                    raise locked_error(until) from None
            raise
        record_success(attempt)
        return cleaned


class ConsoleLoginForm(ThrottledLogin, AuthenticationForm):
    source = "console"


class AdminLoginForm(ThrottledLogin, AdminAuthenticationForm):
    source = "admin"
