"""The four priority scales and every mapping between them.

- native: `@task(priority=)` runs 1-10 (10 first, default 5); the record's `priority`
  field, the API, the console and the filters speak this scale.
- Django: `django.tasks` priorities run -100..100 (higher first, default 0).
- level: every pending task has an internal level from 0 to 200, higher first. A Django
  priority p sits at level p + 100, a native priority n at level 100 + (n - 5) * 20, so
  distinct Django priorities are never inverted, native ones keep their order, and both
  defaults (native 5, Django 0) are level 100: FIFO together (docs/django-tasks.md).
- band: the pending score's band, MAX_LEVEL - level, so 0 is popped first.

The pending ZSET is popped lowest score first, with

    score = band * BAND_WIDTH + seq

where seq is a per-queue counter. That is strict across bands, FIFO within one, and
exact in a double as long as the score stays below 2**53: (200 + 1) * 2**45 < 2**53.
The Lua scripts compute the same expression from the `band` the record carries; they
are passed BAND_WIDTH (operations.py), so the number is written down only here.
"""

from django.tasks.base import TASK_MAX_PRIORITY, TASK_MIN_PRIORITY

from .errors import InvalidPriority

MIN_PRIORITY, MAX_PRIORITY, DEFAULT_PRIORITY = 1, 10, 5
MAX_LEVEL, DEFAULT_LEVEL = 200, 100
LEVEL_STEP = 20  # levels between two native priorities
BAND_WIDTH = 2**45  # sequence numbers in one band: 11 years at 100,000 tasks a second


def validate_priority(value: object, *, field: str = "priority") -> int:
    """Return `value` if it is an int in 1..10; bool and float are refused."""
    if type(value) is not int or not MIN_PRIORITY <= value <= MAX_PRIORITY:
        raise InvalidPriority(
            f"priority must be an integer from {MIN_PRIORITY} to {MAX_PRIORITY} "
            f"(10 runs first), not {value!r}.",
            field=field,
        )
    return value


def level_of(priority: int) -> int:
    """The internal level of a native priority (1..10 -> 20..200)."""
    return DEFAULT_LEVEL + (priority - DEFAULT_PRIORITY) * LEVEL_STEP


def level_of_django(django_priority: int) -> int:
    """The internal level (0..200) of a Django priority (-100..100)."""
    return int(django_priority) - TASK_MIN_PRIORITY


def native_of_django(django_priority: int) -> int:
    """The native priority (1..10) nearest a Django priority's level; halfway rounds up
    (Django 10 is native 6)."""
    offset = level_of_django(django_priority) - DEFAULT_LEVEL
    steps = (offset + LEVEL_STEP // 2) // LEVEL_STEP
    return min(MAX_PRIORITY, max(MIN_PRIORITY, DEFAULT_PRIORITY + steps))


def django_of_native(native: int) -> int:
    """The Django priority at a native priority's level (1 -> -80, 5 -> 0, 10 -> 100);
    a value off the native scale gives the nearest end of Django's."""
    django = level_of(native) + TASK_MIN_PRIORITY
    return max(TASK_MIN_PRIORITY, min(TASK_MAX_PRIORITY, django))


def band_of(level: int) -> int:
    """The score band of a level: 0 is popped first."""
    if type(level) is not int or not 0 <= level <= MAX_LEVEL:
        raise InvalidPriority(f"level must be an integer from 0 to {MAX_LEVEL}, not {level!r}.")
    return MAX_LEVEL - level


def score_of(band: int, seq: int) -> int:
    """The pending score, as the Lua scripts compute it (kept here for tests and docs)."""
    return band * BAND_WIDTH + seq
