"""An open console socket keeps checking who is on the other end."""

import asyncio

import pytest
from channels.layers import get_channel_layer
from django.conf import settings as django_settings

from dashboard.live import consumers

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.slow
def test_the_channel_layers_socket_outlasts_its_blocking_pop(redis_server, settings):
    """channels-redis blocks 5 s on an empty channel; a 5 s socket timeout would drop
    every console socket every 5 s (seen as code 1011 in the browser)."""
    host = dict(django_settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0])
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
