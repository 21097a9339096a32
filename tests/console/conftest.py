"""Fixtures of the console tests: users of each role and logged-in clients."""

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from taskqueue import task


@task(name="console.sample")
def sample(*args, **kwargs):
    return None


@task(name="console.other", queue="emails")
def other(*args, **kwargs):
    return None


def make_user(username: str, *perms: str) -> User:
    user = User.objects.create_user(username, password="pw-for-tests")
    for codename in perms:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


@pytest.fixture
def viewer(db) -> User:
    return make_user("vera", "view_console")


@pytest.fixture
def operator(db) -> User:
    return make_user("otto", "view_console", "operate_tasks")


@pytest.fixture
def nobody(db) -> User:
    return make_user("nick")


@pytest.fixture
def viewer_client(viewer) -> Client:
    client = Client()
    client.force_login(viewer)
    return client


@pytest.fixture
def operator_client(operator) -> Client:
    client = Client()
    client.force_login(operator)
    return client


HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def in_memory_layer(settings):
    """Unit tests of the consumer use Channels' in-memory layer (the browser tests run
    daphne with channels-redis)."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture
def relay_stops():
    """After the test, the relay thread must end (its connections are gone)."""
    from dashboard.live.relay import RELAY

    yield RELAY
    assert RELAY.join(timeout=10), "the console relay thread did not stop"
