"""Reading a task record's fields defensively (records.TaskRecord.from_hash).

Redis contents are not trusted: anyone with access to Redis can write any bytes into
any field. Nothing here raises. A field that cannot be read comes back as None (JSON
and numbers) and its reason is noted in `unreadable` (field -> why), which the API
returns and the console shows.

A reader for people (the API, the console, the archive) passes a Shown: then JSON
larger than it shows is not parsed, JSON nested deeper than it shows is not returned
(code that walks values, such as masking, recurses), text is cut, and only the last
attempts are kept. The engine's own reads (a TaskHandle's result) pass None and get
every value as stored, as far as it parses.
"""

import json
import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

MAX_EXACT = 2**53  # a larger counter is not a number Lua (doubles) or JSON readers keep
PREVIEW = 60  # characters of unparsable JSON quoted in its reason


@dataclass(frozen=True, slots=True)
class Shown:
    """How much of a record a reader for people reads and shows."""

    json_chars: int = 4 * 1024 * 1024  # a larger JSON field is not fetched nor parsed
    depth: int = 100  # arrays and objects nested deeper read as unreadable
    text_chars: int = 20_000  # longer text is cut (a traceback is at most 16,000)
    attempts: int = 1000  # the history keeps the last ones


SHOWN = Shown()  # one task's page
LISTED = Shown(json_chars=64 * 1024)  # a page of many: large values are read on the task's


def shown_in_full(config) -> Shown:
    """What one task's page shows: at least any argument the producer accepts."""
    return replace(SHOWN, json_chars=max(SHOWN.json_chars, config.MAX_PAYLOAD_BYTES))


@dataclass(frozen=True, slots=True)
class TooLarge:
    """In place of a field the broker did not fetch (broker/bounded.py)."""

    size: int  # bytes, as Redis counts them
    limit: int


class FieldReader:
    """The fields of one record's hash, read one by one; `unreadable` collects why."""

    def __init__(self, h: dict, shown: Shown | None):
        self.h = h
        self.shown = shown
        self.unreadable: dict[str, str] = {}

    def text(self, name: str, value: Any = None) -> str:
        raw = self.h.get(name, "") if value is None else value
        if isinstance(raw, TooLarge):
            self.unreadable[name] = _too_large(raw.size, raw.limit, "bytes")
            return ""
        if not isinstance(raw, str):
            return ""
        limit = self.shown.text_chars if self.shown else None
        if limit is None or len(raw) <= limit:
            return raw
        self.unreadable[name] = f"too long: {len(raw):,} characters, the first {limit:,} shown"
        return f"{raw[:limit]}… ({len(raw) - limit:,} more characters)"

    def json(self, name: str, value: Any = None) -> Any:
        raw = self.h.get(name) if value is None else value
        parsed, why = read_json(raw, self.shown)
        if why:
            self.unreadable[name] = why
        return parsed


def read_json(raw: Any, shown: Shown | None) -> tuple[Any, str | None]:
    """(value, None), or (None, why it cannot be shown)."""
    if isinstance(raw, TooLarge):
        return None, _too_large(raw.size, raw.limit, "bytes")
    if not isinstance(raw, str) or raw == "":
        return None, None
    if shown is not None and len(raw) > shown.json_chars:
        return None, _too_large(len(raw), shown.json_chars, "characters")
    try:
        value = json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        return None, f"nested too deep to read ({len(raw):,} characters)"
    except ValueError as exc:  # JSONDecodeError, NaN, 1e999, an integer of 5,000 digits
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc).split(";")[0]
        return None, f"not valid JSON ({reason}): {preview(raw)}"
    if shown is not None and deeper_than(value, raw, shown.depth):
        return None, f"nested more than {shown.depth} levels deep ({len(raw):,} characters)"
    return value, None


def deeper_than(value: Any, raw: str, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` deep (no recursion)."""
    if raw.count("[") + raw.count("{") <= limit:
        return False
    stack = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, (dict, list)):
            if level > limit:
                return True
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, level + 1) for child in children)
    return False


def preview(raw: str) -> str:
    return repr(raw[:PREVIEW]) + ("…" if len(raw) > PREVIEW else "")


def _too_large(size: int, limit: int, unit: str) -> str:
    return f"too large to show: {size:,} {unit} (the limit is {limit:,})"


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is out of range")
    return value


def as_text(value: Any) -> Any:
    """Bytes that were not UTF-8 (the client keeps them as lone surrogates: see
    client.py) as U+FFFD, so a record can be shown and encoded as UTF-8."""
    if not isinstance(value, str) or value.isascii():
        return value
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def as_int(value: Any) -> int | None:
    if not isinstance(value, str) or value == "":
        return None
    try:
        number = int(value)
    except ValueError:  # not an integer, or more than 4,300 digits
        return None
    return number if abs(number) <= MAX_EXACT else None


def as_float(value: Any) -> float | None:
    if not isinstance(value, str) or value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def as_time(value: Any) -> datetime | None:
    """Epoch milliseconds as a UTC datetime; None when not a time Python can hold."""
    ms = as_float(value)
    if ms is None:
        return None
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError):  # before year 1 or after 9999
        return None
