"""Access changes reach an open console socket at once, through the channel layer
(dashboard/live/access_changes.py). The periodic re-check is pushed an hour away in
every test here: only the pushed change can explain what the socket does."""

import logging
import socket
import time

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth.models import Group, Permission, User
from django.test import Client

from dashboard.live import access_changes, consumers
from dashboard.live.relay import RELAY
from taskqueue.embedded_redis import free_port
from tests.support.web import make_user

from .sockets import LOCAL, communicator, next_close, until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("relay_stops")]

PUSH_S = 3.0  # how long a pushed change may take to reach the socket (generous: a busy machine)


@pytest.fixture(autouse=True)
def no_periodic_recheck(monkeypatch):
    monkeypatch.setattr(consumers, "RECHECK_S", 3600.0)


@pytest.fixture
def rechecks(monkeypatch) -> list:
    """What every access check a socket makes found, in order."""
    calls = []
    real = consumers.current_roles

    def counted(scope):
        calls.append(real(scope))
        return calls[-1]

    monkeypatch.setattr(consumers, "current_roles", counted)
    return calls


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def cookie_of(client: Client) -> tuple[bytes, bytes]:
    return b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()


def perm(codename: str) -> Permission:
    return Permission.objects.get(codename=codename)


def socket_scenario(client: Client, change) -> dict:
    """Open a socket in `client`'s session, run `change` in a thread (as a request
    would) once it is open, and return the close message the socket gets within PUSH_S
    (fails without one)."""

    async def scenario():
        ws = communicator(LOCAL, cookie_of(client))
        assert (await ws.connect())[0]
        try:
            await sync_to_async(change)()
            return await next_close(ws, timeout=PUSH_S)
        finally:
            ws.future.cancel()

    return async_to_sync(scenario)()


def closed_forbidden(closed: dict) -> bool:
    return closed == {"type": "websocket.close", "code": consumers.CLOSE_FORBIDDEN}


# Ways access is taken away. Each gets a user with the console (directly, or through the
# group "watchers"), and takes it away as the admin or code would.


def direct_viewer() -> User:
    return make_user("vera", "view_console")


def group_viewer() -> User:
    group = Group.objects.create(name="watchers")
    group.permissions.add(perm("view_console"))
    user = make_user("gus")
    user.groups.add(group)
    return user


def deactivate(user):
    user.is_active = False
    user.save()


def unset_superuser(user):
    user.is_superuser = False
    user.save()


def superuser() -> User:
    return User.objects.create_superuser("sue", "sue@example.com", None)


WITHDRAWALS = {
    "deactivated": (direct_viewer, deactivate),
    "superuser status taken": (superuser, unset_superuser),
    "permission removed": (
        direct_viewer,
        lambda user: user.user_permissions.remove(perm("view_console")),
    ),
    "permissions cleared": (direct_viewer, lambda user: user.user_permissions.clear()),
    "removed from the permission's users": (
        direct_viewer,
        lambda user: perm("view_console").user_set.remove(user),
    ),
    "the permission's users cleared": (
        direct_viewer,
        lambda user: perm("view_console").user_set.clear(),
    ),
    "the group loses the permission": (
        group_viewer,
        lambda user: Group.objects.get(name="watchers").permissions.remove(perm("view_console")),
    ),
    "the group's permissions cleared": (
        group_viewer,
        lambda user: Group.objects.get(name="watchers").permissions.clear(),
    ),
    "the permission's groups cleared": (
        group_viewer,
        lambda user: perm("view_console").group_set.clear(),
    ),
    "removed from the group": (group_viewer, lambda user: user.groups.clear()),
    "the group's users cleared": (
        group_viewer,
        lambda user: Group.objects.get(name="watchers").user_set.clear(),
    ),
    "the group deleted": (group_viewer, lambda user: Group.objects.get(name="watchers").delete()),
    "the user deleted": (direct_viewer, lambda user: user.delete()),
}


@pytest.mark.parametrize("way", WITHDRAWALS)
def test_access_taken_away_closes_the_open_socket_at_once(way):
    make, take_away = WITHDRAWALS[way]
    user = make()
    closed = socket_scenario(logged_in(user), lambda: take_away(user))
    assert closed_forbidden(closed)
    assert RELAY.registered() == []


def test_a_logout_closes_the_open_socket_at_once(viewer):
    client = logged_in(viewer)
    closed = socket_scenario(client, lambda: client.post("/logout/"))
    assert closed_forbidden(closed)


def test_a_logout_closes_its_own_session_s_socket_not_the_same_user_s_other_ones(viewer, rechecks):
    """The other session's socket re-checks (its session is still there) and stays."""
    leaving, staying = logged_in(viewer), logged_in(viewer)

    async def scenario():
        left, stays = (
            communicator(LOCAL, cookie_of(leaving)),
            communicator(LOCAL, cookie_of(staying)),
        )
        assert (await left.connect())[0]
        assert (await stays.connect())[0]
        try:
            await sync_to_async(leaving.post)("/logout/")
            closed = await next_close(left, timeout=PUSH_S)
            await until(lambda: rechecks, PUSH_S, "the other session's socket to re-check")
            assert await stays.receive_nothing(timeout=0.1)
            return closed
        finally:
            left.future.cancel()
            stays.future.cancel()

    assert closed_forbidden(async_to_sync(scenario)())
    assert rechecks == [(True, False)]  # the logged-out socket closed without a check


def test_a_demotion_takes_the_operator_s_buttons_at_once_and_keeps_the_socket(operator):
    async def scenario():
        ws = communicator(LOCAL, cookie_of(await sync_to_async(logged_in)(operator)))
        assert (await ws.connect())[0]
        try:
            (sub,) = RELAY.registered()
            assert sub.can_operate
            await sync_to_async(operator.user_permissions.remove)(
                await Permission.objects.aget(codename="operate_tasks")
            )
            await until(lambda: not sub.can_operate, PUSH_S, "the demotion to reach the socket")
            assert await ws.receive_nothing(timeout=0.1)
        finally:
            ws.future.cancel()

    async_to_sync(scenario)()


def test_a_change_for_another_user_leaves_the_socket_alone(operator, viewer, rechecks):
    """The viewer's deactivation reaches no socket of the operator's: when the
    operator's own demotion (sent after it) has arrived, it is the only check made."""

    async def scenario():
        ws = communicator(LOCAL, cookie_of(await sync_to_async(logged_in)(operator)))
        assert (await ws.connect())[0]
        try:
            (sub,) = RELAY.registered()
            await sync_to_async(deactivate)(viewer)
            await sync_to_async(operator.user_permissions.remove)(
                await Permission.objects.aget(codename="operate_tasks")
            )
            await until(lambda: not sub.can_operate, PUSH_S, "the operator's own change")
            assert await ws.receive_nothing(timeout=0.1)
        finally:
            ws.future.cancel()

    async_to_sync(scenario)()
    assert rechecks == [(True, False)]


def test_a_login_sends_nothing(viewer, rechecks):
    """A login saves last_login only (update_fields): no access changed."""

    def log_in_elsewhere():
        Client().force_login(viewer)
        viewer.user_permissions.add(perm("operate_tasks"))  # this one is sent: the marker

    async def scenario():
        ws = communicator(LOCAL, cookie_of(await sync_to_async(logged_in)(viewer)))
        assert (await ws.connect())[0]
        try:
            (sub,) = RELAY.registered()
            await sync_to_async(log_in_elsewhere)()
            await until(lambda: sub.can_operate, PUSH_S, "the promotion to reach the socket")
        finally:
            ws.future.cancel()

    async_to_sync(scenario)()
    assert rechecks == [(True, True)]


def silent_server() -> socket.socket:
    """A port that accepts connections and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    server.listen(16)
    return server


@pytest.mark.parametrize("layer", ["refused", "silent"])
def test_a_channel_layer_out_of_reach_does_not_fail_the_logout(viewer, settings, caplog, layer):
    server = silent_server() if layer == "silent" else None
    port = server.getsockname()[1] if server else free_port()
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": f"redis://127.0.0.1:{port}", "socket_timeout": 30}]},
        }
    }
    client = logged_in(viewer)
    try:
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger=access_changes.__name__):
            response = client.post("/logout/")
        took = time.monotonic() - started
    finally:
        if server:
            server.close()
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
    assert took < access_changes.SEND_TIMEOUT_S + 2, "the logout waited on the layer"
    assert "periodic re-check" in caplog.text
