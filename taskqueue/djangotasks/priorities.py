"""Django's task priorities (-100..100, higher first, default 0) on taskqueue's scale.

Every pending task has an internal level 0..200, higher first (taskqueue/priority.py).
A Django priority p sits at level p + 100; a native priority n (1..10) at level
100 + (n - 5) * 20. So distinct Django priorities are never inverted, native priorities
keep their order, and both defaults (Django 0, native 5) are level 100: FIFO together.

The record's `priority` field is always a native 1..10 value (the API, the console and
filters speak that scale): for a Django task, the native priority nearest its level.
The exact Django priority is kept in the record's meta (see results.py).
"""

from django.tasks.base import TASK_MAX_PRIORITY, TASK_MIN_PRIORITY

from ..priority import DEFAULT_PRIORITY, MAX_PRIORITY, MIN_PRIORITY

STEP = 20  # levels between two native priorities


def level(django_priority: int) -> int:
    """The internal level (0..200) of a Django priority (-100..100)."""
    return int(django_priority) - TASK_MIN_PRIORITY


def to_native(django_priority: int) -> int:
    """The native priority (1..10) nearest a Django priority; halfway rounds up."""
    steps = (int(django_priority) + STEP // 2) // STEP
    return min(MAX_PRIORITY, max(MIN_PRIORITY, DEFAULT_PRIORITY + steps))


def from_native(native: int) -> int:
    """The Django priority at a native priority's level (1 -> -80, 5 -> 0, 10 -> 100)."""
    return max(TASK_MIN_PRIORITY, min(TASK_MAX_PRIORITY, (native - DEFAULT_PRIORITY) * STEP))
