"""Fixtures of the console tests: users of each role and logged-in clients (helpers in
tests/support/web.py; the sample tasks in tests/support/tasks.py, registered here)."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.support import tasks  # noqa: F401 - registers console.sample and console.other
from tests.support.web import logged_in, make_user


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
    return logged_in(viewer)


@pytest.fixture
def operator_client(operator) -> Client:
    return logged_in(operator)


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
