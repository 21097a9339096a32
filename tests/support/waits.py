"""Waiting for something to happen: a condition polled with a deadline, never a bare
sleep that hopes it was long enough."""

import time
from collections.abc import Callable


def wait_for(
    condition: Callable,
    timeout: float = 10.0,
    message: str = "condition",
    *,
    every: float = 0.02,
    ignoring: tuple[type[BaseException], ...] = (),
):
    """Poll `condition` every `every` s until it returns something truthy, and return
    that; AssertionError after `timeout` s. An exception of a type in `ignoring` counts
    as "not yet" (a Redis that is starting or failing over)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except ignoring:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(every)
