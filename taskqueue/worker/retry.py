"""Retry policy: whether a failed attempt is retried, and after how long.

The delay is exponential with full jitter and a cap: uniform(0, min(cap, base * 2**n))
for the n-th retry (n = failures before this one), or exactly min(cap, base * 2**n)
without jitter. The broker still refuses a retry once max_retries is used up.
"""

import random

from ..conf import Config
from ..definition import Task
from ..errors import Retry


def backoff_seconds(failures: int, base: float, cap: float, jitter: bool) -> float:
    ceiling = min(cap, base * 2 ** min(failures, 62))
    return random.uniform(0, ceiling) if jitter else ceiling


def retry_delay_ms(
    task: Task | None, exc: BaseException, failures: int, config: Config
) -> int | None:
    """Milliseconds until the retry, or None when this failure must not be retried."""
    if task is None:
        return None
    if isinstance(exc, Retry) and exc.countdown is not None:
        return int(max(0.0, exc.countdown) * 1000)
    opts = task.options
    if not isinstance(exc, Retry) and (
        not isinstance(exc, opts.retry_on) or isinstance(exc, opts.dont_retry_on)
    ):
        return None
    base = opts.retry_backoff if opts.retry_backoff is not None else config.RETRY_BACKOFF
    cap = opts.retry_backoff_max if opts.retry_backoff_max is not None else config.RETRY_BACKOFF_MAX
    return int(backoff_seconds(failures, base, cap, opts.retry_jitter) * 1000)
