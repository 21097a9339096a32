"""Access changes reach open console sockets at once, in every web process.

An open socket re-checks its session and permissions every RECHECK_S (consumers.py);
these receivers make it re-check now. Each console socket joins its user's group in
the channel layer (`console-user-<pk>`); a logout, a deactivation, a change of
superuser or staff status, a permission or group added or removed (for the user, or
for a group they are in), a group or the user deleted sends `access.changed` to the
group of every user it touches, once the transaction commits. The consumer then runs
the periodic re-check at once (a logout names the session it ended: that socket
closes without one).

Sending never fails the request that made the change: if the layer cannot be reached
the warning is logged and the periodic re-check closes the socket within RECHECK_S.
The engine knows nothing of this (taskqueue/ never imports Channels).
"""

import asyncio
import hashlib
import logging
import re
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model, user_logged_out
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete
from django.utils.crypto import salted_hmac

log = logging.getLogger(__name__)

ACCESS_CHANGED = "access.changed"  # the consumer's handler: access_changed()
SEND_TIMEOUT_S = 2.0  # a layer that does not answer holds the request no longer
ACCESS_FIELDS = frozenset({"is_active", "is_superuser", "is_staff"})
GROUP_SAFE_PK = re.compile(r"[A-Za-z0-9_.-]{1,80}")


def user_group(pk) -> str:
    """The channel-layer group of a user's console sockets (valid Channels group name:
    ASCII letters, digits, hyphens, underscores and periods, under 100 characters)."""
    text = str(pk)
    if not GROUP_SAFE_PK.fullmatch(text):
        text = hashlib.sha256(text.encode()).hexdigest()
    return f"console-user-{text}"


def session_digest(session_key: str) -> str:
    """What a logout message says of the session it ended: not the key itself (a
    credential), which the channel layer's Redis would then hold."""
    return salted_hmac("console-session-ended", session_key, algorithm="sha256").hexdigest()


def notify(user_pks: Iterable, ended_session: str | None = None) -> None:
    """Tell these users' open sockets that their access may have changed, once the
    current transaction commits (at once outside one)."""
    pks = sorted({str(pk) for pk in user_pks if pk is not None})
    if not pks:
        return
    message = {"type": ACCESS_CHANGED}
    if ended_session is not None:
        message["session"] = session_digest(ended_session)
    transaction.on_commit(lambda: send(pks, message))


def send(pks: list[str], message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(send_to_groups)(layer, pks, message)
    except Exception:
        log.warning(
            "console: could not tell open sockets of an access change through the "
            "channel layer; they notice it at their next periodic re-check",
            exc_info=True,
        )


async def send_to_groups(layer, pks: list[str], message: dict) -> None:
    async with asyncio.timeout(SEND_TIMEOUT_S):
        for pk in pks:
            await layer.group_send(user_group(pk), message)


# The receivers (connected in connect_receivers(), from DashboardConfig.ready()).


def logged_out(sender, request, user, **kwargs) -> None:
    """Sent before the session is flushed: the message names the session, so that its
    socket closes without re-checking a session that may not be gone yet."""
    session = getattr(request, "session", None)
    if user is not None:
        notify([user.pk], ended_session=getattr(session, "session_key", None))


def user_saved(sender, instance, created, update_fields, **kwargs) -> None:
    """A new user has no socket; a save of other fields only (a login's last_login)
    changes no access. Any other save may have changed is_active, is_superuser or
    is_staff."""
    if created or (update_fields is not None and not ACCESS_FIELDS & set(update_fields)):
        return
    notify([instance.pk])


def user_deleted(sender, instance, **kwargs) -> None:
    notify([instance.pk])


def user_relations_changed(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    """A user's permissions or groups: user.user_permissions / user.groups (the user
    is `instance`), or from the other side, permission.user_set / group.user_set (the
    users are `pk_set`, or on clear() every user the relation held)."""
    if not reverse:
        if action in ("post_add", "post_remove", "post_clear"):
            notify([instance.pk])
    elif action in ("post_add", "post_remove"):
        notify(pk_set)
    elif action == "pre_clear":  # sent inside clear()'s transaction: notify() waits
        notify(instance.user_set.values_list("pk", flat=True))


def group_permissions_changed(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    """group.permissions (the group is `instance`), or permission.group_set (the
    groups are `pk_set`, or on clear() every group that held the permission): every
    member of the groups."""
    if action not in ("post_add", "post_remove", "pre_clear"):
        return
    if not reverse:
        groups = [instance.pk]
    elif action == "pre_clear":
        groups = instance.group_set.values_list("pk", flat=True)
    else:
        groups = pk_set
    notify(members(groups))


def group_deleted(sender, instance, **kwargs) -> None:
    """Before the delete, while the members can still be read (a group of thousands
    may take longer than SEND_TIMEOUT_S to tell: the rest wait for the periodic
    re-check, as with any change of its permissions)."""
    notify(members([instance.pk]))


def members(group_pks) -> list:
    users = get_user_model()._default_manager.filter(groups__in=list(group_pks))
    return list(users.values_list("pk", flat=True).distinct())


def connect_receivers() -> None:
    user_model = get_user_model()
    connect(user_logged_out, logged_out)
    connect(post_save, user_saved, sender=user_model)
    connect(post_delete, user_deleted, sender=user_model)
    for relation in ("user_permissions", "groups"):
        if hasattr(user_model, relation):  # a custom user model may have neither
            connect(m2m_changed, user_relations_changed, getattr(user_model, relation).through)
    connect(m2m_changed, group_permissions_changed, sender=Group.permissions.through)
    connect(pre_delete, group_deleted, sender=Group)


def connect(signal, receiver, sender=None) -> None:
    signal.connect(receiver, sender=sender, dispatch_uid=f"{__name__}.{receiver.__name__}")
