"""Fixtures for the flow-control tests: worker processes on the session's private Redis
(tests/support/workers.py), and the starts and ends the test tasks noted."""

import pytest

from tests.support.workers import background_worker, spawn_worker, task_env  # noqa: F401
from tests.support.workers import evidence as evidence  # a fixture, used by `runs`


@pytest.fixture
def runs(evidence):
    """The notes of tests/taskapp/limit_tasks.py: [(start|end, kind, tag, time)]."""

    def read(kind: str | None = None) -> list[tuple[str, str, str, float]]:
        out = []
        for raw in evidence():
            edge, k, tag, at = (raw if isinstance(raw, str) else raw.decode()).split("|")
            if kind is None or k == kind:
                out.append((edge, k, tag, float(at)))
        return out

    return read
