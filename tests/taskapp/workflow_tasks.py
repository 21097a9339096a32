"""Bodies for the workflow end-to-end tests (tests/workflows/test_end_to_end.py)."""

import time

from taskqueue import current_task, task

__all__ = ["add", "collect", "slow_first_attempt"]


@task
def add(a: int, b: int = 0) -> int:
    return a + b


@task
def collect(results: list) -> dict:
    """What a chord callback received, in brief (a 1,000-result list is not returned)."""
    return {
        "count": len(results),
        "first": results[0] if results else None,
        "last": results[-1] if results else None,
        "ordered": results == sorted(results),
    }


@task
def slow_first_attempt(tag: str) -> str:
    """Hangs on its first attempt (its worker is killed meanwhile), quick after."""
    if current_task().attempt == 1:
        time.sleep(60)
    return tag
