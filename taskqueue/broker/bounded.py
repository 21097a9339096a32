"""Reading task records for people without fetching what is too large to show.

The fields a record can make large (HEAVY) are sized first with HSTRLEN; one larger
than the reader shows (record_fields.Shown.json_chars) is not fetched at all: a
TooLarge takes its place in the hash, and the record reads it as unreadable. A page of
50 records that each hold a 50 MB argument then costs Redis a few hundred small replies,
not 2.5 GB. Pipelined round trips: the sizes; then HGETALL, or for a record with a
field too large, HKEYS; then HMGET of that record's other fields.
"""

from collections.abc import Sequence

from ..record_fields import Shown, TooLarge, as_int
from .damage import unless_wrong_type
from .keys import wire

HEAVY = ("args", "kwargs", "result", "progress", "meta", "traceback", "error_message")


def read_hashes(client, keys: Sequence[str], shown: Shown) -> list[dict | None]:
    """The hash at each key ({} for none, None for a key that is not a hash: damage.py),
    with a TooLarge for each HEAVY field over shown.json_chars."""
    keys = [wire(key) for key in keys]
    big = [
        None
        if sizes is None
        else {n: size for n, size in zip(HEAVY, sizes, strict=True) if size > shown.json_chars}
        for sizes in _sizes(client, keys)
    ]
    readable = [i for i, too_large in enumerate(big) if too_large is not None]
    with client.pipeline(transaction=False) as pipe:
        for i in readable:
            (pipe.hkeys if big[i] else pipe.hgetall)(keys[i])
        fetched = [unless_wrong_type(r, None) for r in pipe.execute(raise_on_error=False)]
    replies: list = [None] * len(keys)
    for i, reply in zip(readable, fetched, strict=True):
        replies[i] = reply
    partial = [i for i in readable if big[i] and replies[i] is not None]
    rest = _around(client, [(keys[i], replies[i], big[i]) for i in partial], shown)
    for i, h in zip(partial, rest, strict=True):
        replies[i] = h
    return replies


def _sizes(client, keys: Sequence) -> list[list[int] | None]:
    """HSTRLEN of each HEAVY field of each key; None for a key that is not a hash."""
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            for name in HEAVY:
                pipe.hstrlen(key, name)
        sizes = [unless_wrong_type(r, None) for r in pipe.execute(raise_on_error=False)]
    n = len(HEAVY)
    rows = [sizes[i : i + n] for i in range(0, len(sizes), n)]
    return [None if None in row else row for row in rows]


def _around(client, records: list[tuple[str, list, dict]], shown: Shown) -> list[dict]:
    """Each (key, its field names, the fields too large) read without those fields
    ({} when it has no field left: the record went in between)."""
    wanted = [_wanted(names, too_large, shown) for _, names, too_large in records]
    with client.pipeline(transaction=False) as pipe:
        for (key, _, _), names in zip(records, wanted, strict=True):
            if names:
                pipe.hmget(key, names)
        values = iter(pipe.execute(raise_on_error=False))
    out = []
    for names, (_, _, too_large) in zip(wanted, records, strict=True):
        row = (unless_wrong_type(next(values), None) or [None] * len(names)) if names else []
        h = {name: value for name, value in zip(names, row, strict=True) if value is not None}
        if h:
            h |= {name: TooLarge(size, shown.json_chars) for name, size in too_large.items()}
        out.append(h)
    return out


def _wanted(names: list[str], too_large: dict, shown: Shown) -> list[str]:
    """The field names to fetch: all but the ones too large and, past the last
    shown.attempts attempts, the history (h:<n>, e:<n>)."""
    numbers = sorted({n for name in names if (n := _attempt_number(name)) is not None})
    dropped = set(numbers[: -shown.attempts]) if len(numbers) > shown.attempts else set()
    return [
        name for name in names if name not in too_large and _attempt_number(name) not in dropped
    ]


def _attempt_number(name: str) -> int | None:
    return as_int(name[2:]) if name[:2] in ("h:", "e:") else None
