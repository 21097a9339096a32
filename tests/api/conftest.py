"""Fixtures of the API tests: users with the console permissions and clients with
tokens (tests/support/web.py), the sample tasks registered (tests/support/tasks.py),
an unreachable Redis, and the real-process stack of live.py."""

import pytest
from django.contrib.auth.models import User

from tests.support import tasks  # noqa: F401 - registers tests.api.echo and tests.api.mail
from tests.support.web import Api, make_token, make_user


@pytest.fixture
def operator(db) -> User:
    return make_user("olga", "view_console", "operate_tasks")


@pytest.fixture
def api(operator) -> Api:
    """A client with a token holding every scope."""
    return Api(make_token(operator, name="ci"))


@pytest.fixture
def reader(operator) -> Api:
    """A client whose token may only read."""
    return Api(make_token(operator, ("read",), name="dashboards"))


@pytest.fixture
def unreachable_redis(settings, tq_settings):
    """Point taskqueue at a loopback port nobody listens on."""
    from taskqueue.embedded_redis import free_port

    settings.TASKQUEUE = tq_settings | {"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}


@pytest.fixture(scope="session")
def live_stack(tmp_path_factory):
    """Redis + daphne + a token, as real processes (see live.py); started once."""
    from .live import LiveStack

    stack = LiveStack(tmp_path_factory.mktemp("live")).start()
    yield stack
    stack.stop()


@pytest.fixture(autouse=True)
def fresh_token_cache():
    """Each test starts with no token looked up yet (tokens.find_token caches them)."""
    from api.tokens import forget_tokens

    forget_tokens()
