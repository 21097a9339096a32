"""An open console socket keeps checking who is on the other end."""

import asyncio

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth.models import Permission
from django.contrib.sessions.models import Session

from config import settings as project_settings
from dashboard.live import consumers
from dashboard.live.relay import RELAY

from .sockets import LOCAL, communicator, next_close, session_cookie, until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.slow
def test_the_channel_layers_socket_outlasts_its_blocking_pop(redis_server, settings):
    """channels-redis blocks 5 s on an empty channel; a 5 s socket timeout would drop
    every console socket every 5 s (seen as code 1011 in the browser)."""
    host = dict(project_settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0])
    host["address"] = redis_server.url
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [host], "prefix": "t-layer:"},
        }
    }
    layer = get_channel_layer()

    async def listen():
        channel = await layer.new_channel()
        with pytest.raises(TimeoutError):  # our own deadline, not the socket's
            await asyncio.wait_for(layer.receive(channel), timeout=6.5)
        await layer.flush()

    asyncio.run(listen())


def test_current_roles_follow_logout_deactivation_and_permissions(django_user_model):
    from django.contrib.auth.models import Permission
    from django.contrib.sessions.backends.db import SessionStore

    user = django_user_model.objects.create_user("watcher")
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_console", "operate_tasks"])
    )
    session = SessionStore()
    session.create()
    scope = {"session": session, "user": user}
    assert consumers.current_roles(scope) == (True, True)
    user.user_permissions.remove(Permission.objects.get(codename="operate_tasks"))
    assert consumers.current_roles(scope) == (True, False)
    user.is_active = False
    user.save()
    assert consumers.current_roles(scope) == (False, False)
    user.is_active = True
    user.save()
    session.delete()  # logged out
    assert consumers.current_roles(scope) == (False, False)


def watched_socket(user, monkeypatch, then) -> tuple[dict, list]:
    """Open a socket through the whole ASGI stack (with Channels' lazy user, as daphne
    runs it) with re-checks every 50 ms, run `then(subscriber, session_key)`, and return
    what the server sends next and what the relay still holds then (the client never
    answers a close)."""
    monkeypatch.setattr(consumers, "RECHECK_S", 0.05)
    cookie = session_cookie(user)
    session_key = cookie[1].decode().partition("=")[2]

    async def scenario():
        ws = communicator(LOCAL, cookie)
        assert (await ws.connect())[0]
        (sub,) = RELAY.registered()
        await ws.send_json_to({"watch": ["totals:all"]})
        await until(lambda: sub.watched, 5, "the watch")
        await then(sub, session_key)
        closed = await next_close(ws)
        left = RELAY.registered()
        ws.future.cancel()
        return closed, left

    return async_to_sync(scenario)()


@pytest.mark.usefixtures("in_memory_layer")
def test_an_open_socket_follows_a_demotion_then_closes_at_logout(
    operator, monkeypatch, relay_stops
):
    async def demote_then_log_out(sub, session_key):
        assert sub.can_operate
        codename = "operate_tasks"
        await sync_to_async(operator.user_permissions.remove)(
            await Permission.objects.aget(codename=codename)
        )
        await until(lambda: not sub.can_operate, 5, "the demotion noticed")
        await Session.objects.filter(session_key=session_key).adelete()

    closed, left = watched_socket(operator, monkeypatch, demote_then_log_out)
    assert closed == {"type": "websocket.close", "code": consumers.CLOSE_FORBIDDEN}
    assert left == []


@pytest.mark.usefixtures("in_memory_layer")
def test_a_socket_whose_access_check_fails_is_closed_not_left_unchecked(
    viewer, monkeypatch, relay_stops
):
    def broken(scope):
        raise RuntimeError("the database is gone")

    async def break_the_check(sub, session_key):
        monkeypatch.setattr(consumers, "current_roles", broken)

    closed, left = watched_socket(viewer, monkeypatch, break_the_check)
    assert closed == {"type": "websocket.close", "code": consumers.CLOSE_ERROR}
    assert left == []
