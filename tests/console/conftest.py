"""Fixtures of the console tests: users of each role and logged-in clients (helpers in
tests/support/web.py; the sample tasks in tests/support/tasks.py, registered here).

And those of the browser tests (test_*_browser.py): one daphne (and its database) per
module on the session's Redis, one headless Chromium per module, and a logged-in page
per test whose console errors fail the test. Such a module says, at its top:
  PREFIX     its key prefix (required): daphne and the test's own broker share it
  VIEWPORT   the page's size (default DEFAULT_VIEWPORT)
  EXTRA_ENV  more environment for daphne (default none)
and may define its own `console` (or `env`, `server`) instead."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.support import tasks  # noqa: F401 - registers console.sample and console.other
from tests.support.web import logged_in, make_user

from . import browsers
from .servers import Daphne, prepare_database, project_env


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


# -- the browser tests ------------------------------------------------------------------

DEFAULT_VIEWPORT = {"width": 1280, "height": 900}


@pytest.fixture
def tq_prefix(request, tq_prefix) -> str:
    """A browser test module's PREFIX: the daphne it starts reads the same keys (any
    other module: the session's fresh prefix per test)."""
    return getattr(request.module, "PREFIX", tq_prefix)


@pytest.fixture(scope="module")
def env(request, redis_server, tmp_path_factory) -> dict[str, str]:
    name = request.module.__name__.rpartition(".")[2]
    env = project_env(redis_server.url, request.module.PREFIX, tmp_path_factory.mktemp(name))
    env |= getattr(request.module, "EXTRA_ENV", {})
    prepare_database(env)
    return env


@pytest.fixture(scope="module")
def server(env, tmp_path_factory):
    daphne = Daphne(env, tmp_path_factory.mktemp("logs") / "daphne.log").start()
    yield daphne
    daphne.stop()


@pytest.fixture(scope="module")
def browser():
    yield from browsers.launched_chromium()


@pytest.fixture
def console(request, browser, server):
    viewport = getattr(request.module, "VIEWPORT", DEFAULT_VIEWPORT)
    watched = browsers.logged_in(browser, server, viewport=viewport)
    yield watched
    watched.page.context.close()
    assert not watched.errors, watched.errors
