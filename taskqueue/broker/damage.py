"""Keys of the wrong type: what the scripts report instead of running, and moving those
keys out of a queue's way.

Anyone with access to Redis can write any key, and a command on a key of another type
fails (WRONGTYPE): inside a script half-way through, keeping what it had done (a lost
task), and again on every later call (a stalled queue). So every script first checks
the type of each key it will touch; when one is wrong it changes nothing and replies
with the damage, {{key, type found, type expected, ...}} (lua/includes/common.lua).
The broker then moves those keys aside with quarantine_keys.lua (kept QUARANTINE_TTL_S
under '<prefix>:{q}:quarantine:...', counted in the queue's stats as `quarantined`),
logs why, and calls the script again. Reads change nothing: they skip such keys and
flag them (reads.py).
"""

import logging
from dataclasses import dataclass

import redis

from ..errors import DamagedKey
from ..text import as_text
from .errors import is_wrong_type

log = logging.getLogger("taskqueue.broker")

QUARANTINE_TTL_S = 7 * 86400  # how long a key moved aside is kept for a look
HEAL_ROUNDS = 3  # quarantine-and-retry rounds before an operation gives up

# The type each fixed key of a queue must have, by kind (common.lua's KIND_TYPES).
# `paused` is not listed: its existence is the flag, whatever it holds.
KIND_TYPES = {
    "pending": "zset",
    "scheduled": "zset",
    "active": "zset",
    "completed": "zset",
    "cancelled": "zset",
    "dead": "zset",
    "index": "zset",
    "seq": "string",
    "wake": "list",
    "timer": "list",
    "events": "stream",
    "stats": "hash",
    "limits": "hash",
    "limitset": "hash",
    "gcra": "hash",
    "tenants": "hash",
    "fair": "hash",
    "errors": "hash",
    "runtime": "hash",
    "waiting": "zset",
    "outbox": "stream",
}


@dataclass(frozen=True, slots=True)
class Damage:
    key: str
    found: str  # the type the key has
    expected: str  # the type it must have ('integer': a string holding a whole number)

    def __str__(self) -> str:
        return f"Redis key {as_text(self.key)!r} is a {self.found} where a {self.expected} belongs"


def unless_wrong_type(reply, default):
    """A pipeline's reply, or `default` for a command that met a key of the wrong type
    (reads: such a key reads as empty)."""
    if isinstance(reply, redis.ResponseError):
        if is_wrong_type(reply):
            return default
        raise reply
    return reply


def damage_in(reply) -> list[Damage] | None:
    """The damage a script reported instead of running, or None for a normal reply."""
    if isinstance(reply, list) and len(reply) == 1 and isinstance(reply[0], list):
        flat = reply[0]
        return [Damage(*flat[i : i + 3]) for i in range(0, len(flat) - 2, 3)]
    return None


def unhealed(damage: list[Damage]) -> DamagedKey:
    """The error of an operation refused because of keys that could not be moved aside
    (a read, which moves nothing, or keys damaged again as fast as they were moved)."""
    found = "; ".join(dict.fromkeys(map(str, damage)))
    return DamagedKey(f"{found}. Nothing was changed.", [d.key for d in damage])


def log_moved_global(key: str, found: str, target: str) -> None:
    log.warning(
        "Redis key %r was a %s, not what taskqueue keeps there: moved aside to %r (kept %d "
        "days); it is rebuilt as the workers go on",
        as_text(key),
        found,
        as_text(target),
        QUARANTINE_TTL_S // 86400,
    )


def log_moved(queue: str, moved: list) -> None:
    """Log the keys quarantine_keys.lua moved aside: (key, type it had, new key) each."""
    for i in range(0, len(moved) - 2, 3):
        key, found, target = moved[i : i + 3]
        log.warning(
            "queue %s: Redis key %r was a %s, not what taskqueue keeps there: moved aside "
            "to %r (kept %d days), and the queue goes on",
            queue,
            as_text(key),
            found,
            as_text(target),
            QUARANTINE_TTL_S // 86400,
        )
