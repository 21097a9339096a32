"""Fixtures for worker tests: subprocess workers (`manage.py runworker`) and in-process
ones, all on the session's private Redis under the test's own prefix. They are defined
in tests/support/workers.py (tests/djangotasks/ uses them too)."""

from tests.support.workers import (  # noqa: F401 - fixtures
    background_worker,
    evidence,
    spawn_worker,
    task_env,
)
