"""Creating, finding and revoking API tokens; creation and revocation are audited.

A token reads `tq_<prefix>_<secret>`: the prefix (8 hex digits) is stored in clear to
tell tokens apart, the whole token only as its SHA-256 hash. Tokens are long random
strings, so one fast hash is enough (no password hashing needed), and a lookup by
hash gives nothing away by its timing.
"""

import hashlib
import re
import secrets
import time
from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from dashboard.access import queue_scope
from taskqueue.audit import Actor, record
from taskqueue.errors import ValidationError
from taskqueue.models import AuditEvent
from taskqueue.names import validate_queue_name
from taskqueue.options import tenant as validate_tenant

from .models import ApiToken

TOKEN_RE = re.compile(r"^tq_([0-9a-f]{8})_[A-Za-z0-9_-]{43}$")
SCOPES = tuple(ApiToken.Scope.values)
# The Django permission each scope also needs its user to hold.
SCOPE_PERMISSIONS = {
    "read": "taskqueue.view_console",
    "enqueue": "taskqueue.operate_tasks",
    "operate": "taskqueue.operate_tasks",
}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_secret() -> tuple[str, str]:
    """(prefix, token)."""
    prefix = secrets.token_hex(4)
    return prefix, f"tq_{prefix}_{secrets.token_urlsafe(32)}"


def clean_scopes(scopes: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(scopes))
    unknown = [s for s in chosen if s not in SCOPES]
    if unknown or not chosen:
        raise ValidationError(
            f"scopes must be a non-empty choice of {', '.join(SCOPES)}; not {unknown or chosen}.",
            field="scopes",
        )
    return chosen


def clean_queues(queues: Iterable[str]) -> list[str]:
    """Valid queue names, each once ([]: every queue). A name need not be in use yet."""
    if isinstance(queues, str):
        raise ValidationError("queues must be a list of queue names.", field="queues")
    chosen = list(dict.fromkeys(queues))
    for name in chosen:
        validate_queue_name(name, field="queues")
    return chosen


def clean_tenants(tenants: Iterable[str]) -> list[str]:
    """Valid tenant names, each once ([]: every tenant's tasks, and those of none)."""
    if isinstance(tenants, str):
        raise ValidationError("tenants must be a list of tenant names.", field="tenants")
    chosen = list(dict.fromkeys(tenants))
    for name in chosen:
        validate_tenant(name, field="tenants")
    return chosen


def missing_permissions(user: AbstractBaseUser, scopes: Iterable[str]) -> list[str]:
    """The permissions `user` lacks for these scopes (a token never exceeds its user)."""
    return sorted({SCOPE_PERMISSIONS[s] for s in scopes if not user.has_perm(SCOPE_PERMISSIONS[s])})


def create_token(
    actor: Actor,
    user: AbstractBaseUser,
    name: str,
    scopes: Iterable[str],
    queues: Iterable[str] = (),
    tenants: Iterable[str] = (),
) -> tuple[ApiToken, str]:
    """Create a token for `user`, limited to `queues` (none: every queue) and to the
    tasks of `tenants` (none: anyone's); returns it with its secret (not stored)."""
    chosen = clean_scopes(scopes)
    only = clean_queues(queues)
    whose = clean_tenants(tenants)
    if not isinstance(name, str) or not 0 < len(name.strip()) <= 100:
        raise ValidationError("name must be 1 to 100 characters.", field="name")
    for _ in range(5):  # a clash of 8-hex-digit prefixes is rare; try another
        prefix, token = new_secret()
        try:
            with transaction.atomic():
                api_token = ApiToken.objects.create(
                    user=user,
                    name=name.strip(),
                    prefix=prefix,
                    key_hash=hash_token(token),
                    scopes=chosen,
                    queues=only,
                    tenants=whose,
                )
        except IntegrityError:
            continue
        _audit(actor, AuditEvent.Action.TOKEN_CREATED, api_token)
        return api_token, token
    raise RuntimeError("could not find a free token prefix")  # pragma: no cover


def revoke_token(actor: Actor, api_token: ApiToken) -> bool:
    """Revoke a token; False if it was revoked already (then nothing is recorded)."""
    changed = ApiToken.objects.filter(pk=api_token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    api_token.refresh_from_db(fields=["revoked_at"])
    forget_tokens()
    if changed:
        _audit(actor, AuditEvent.Action.TOKEN_REVOKED, api_token)
    return bool(changed)


def find_token(token: str) -> ApiToken | None:
    """The token (active or not) a bearer string names, or None; `token.granted` is the
    set of API permissions its user holds, `token.user_queues` the queues its user
    may see (dashboard/access.py: QueueScope). Looked up in the database at most every
    TOKEN_CACHE_S per process: a revoked token, or a user who lost a permission, is
    refused at once by the process that made the change and within TOKEN_CACHE_S by
    the others."""
    if not TOKEN_RE.fullmatch(token):
        return None
    key = hash_token(token)
    cached = _cache.get(key)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    generation = _state["generation"]
    found = ApiToken.objects.select_related("user").filter(key_hash=key).first()
    if found is not None:
        perms = set(SCOPE_PERMISSIONS.values())
        found.granted = {perm for perm in perms if found.user.has_perm(perm)}
        found.user_queues = queue_scope(found.user)
        if len(_cache) >= TOKEN_CACHE_MAX:
            _cache.clear()
        if _state["generation"] == generation:  # else a change landed while we read: skip
            _cache[key] = (time.monotonic() + TOKEN_CACHE_S, found)
    return found


def forget_tokens() -> None:
    """Drop this process's cache of looked-up tokens, and refuse to cache lookups that
    were under way (they may have read the state before the change)."""
    _state["generation"] += 1
    _cache.clear()


def forget_tokens_on_commit() -> None:
    """For a change inside a transaction: forget now, and again once it is committed
    (a lookup in between could still read, and cache, what was there before)."""
    forget_tokens()
    transaction.on_commit(forget_tokens)


TOKEN_CACHE_S = 5.0
TOKEN_CACHE_MAX = 1000
_cache: dict[str, tuple[float, ApiToken]] = {}
_state = {"generation": 0}


def touch(api_token: ApiToken, every_s: float = 60.0) -> None:
    """Note when a token was last used; written at most once a minute per token."""
    now = timezone.now()
    last = api_token.last_used_at
    if last is None or (now - last).total_seconds() >= every_s:
        ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=now)
        api_token.last_used_at = now


def _audit(actor: Actor, action: str, api_token: ApiToken) -> None:
    record(
        actor,
        action,
        count=1,
        detail={
            "token": api_token.prefix,
            "name": api_token.name,
            "user": api_token.user.get_username(),
            "scopes": api_token.scopes,
            "queues": api_token.queues,
            "tenants": api_token.tenants,
        },
    )
