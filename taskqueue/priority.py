"""Priorities and the pending-set score.

Native priorities run 1-10 (10 first, default 5). Internally every pending task has a
*level* from 0 to 200, higher first, which leaves room for Django's -100..100 task
priorities (level = django priority + 100). A native priority p sits at level
100 + (p - 5) * 20, so native 5 and Django 0 - both defaults - are the same level.

The pending ZSET is popped lowest score first, with

    score = (MAX_LEVEL - level) * 2**SEQ_BITS + seq

where seq is a per-queue counter. That is strict across levels, FIFO within one, and
exact in a double as long as the score stays below 2**53: (200 + 1) * 2**45 < 2**53.
The Lua scripts compute the same expression from the `band` (MAX_LEVEL - level) the
record carries; `band_of` is the one place that maps a level to it.
"""

from .errors import InvalidPriority

MIN_PRIORITY, MAX_PRIORITY, DEFAULT_PRIORITY = 1, 10, 5
MAX_LEVEL = 200
SEQ_BITS = 45


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
    return 100 + (priority - DEFAULT_PRIORITY) * 20


def band_of(level: int) -> int:
    """The score band of a level: 0 is popped first."""
    if type(level) is not int or not 0 <= level <= MAX_LEVEL:
        raise InvalidPriority(f"level must be an integer from 0 to {MAX_LEVEL}, not {level!r}.")
    return MAX_LEVEL - level


def score_of(band: int, seq: int) -> int:
    """The pending score, as the Lua scripts compute it (kept here for tests and docs)."""
    return band * 2**SEQ_BITS + seq
