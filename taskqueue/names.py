"""What a queue name and a key prefix may be.

A queue name fits both a Redis Cluster hash tag (`{name}`: no braces) and a Channels
group name, so the console can watch any queue. A leaf module: the settings
(conf.py), the key builder (broker/keys.py) and the option checks (options.py) all
validate names here, and it imports nothing of the engine but errors.
"""

import re

from .errors import InvalidQueueName

# Matched with fullmatch, never match: `$` also matches before a trailing newline.
QUEUE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
PREFIX_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,32}$")


def validate_queue_name(name: object, *, field: str = "queue") -> str:
    if not isinstance(name, str) or not QUEUE_NAME_RE.fullmatch(name):
        raise InvalidQueueName(
            f"queue name {name!r} is not allowed: use 1-63 characters from a-z, 0-9, "
            "'_', '.', '-', starting with a letter or digit.",
            field=field,
        )
    return name


def is_queue_name(name: object) -> bool:
    """Whether `name` is a queue's name (not a sub-queue's, not anything else)."""
    return isinstance(name, str) and bool(QUEUE_NAME_RE.fullmatch(name))
