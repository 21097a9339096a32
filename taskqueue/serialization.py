"""JSON on the wire, and nothing else (never pickle).

`dumps` refuses what JSON cannot carry - objects, NaN, Infinity, non-string keys - with
a SerializationError naming the argument, instead of silently stringifying it.
"""

import json
from typing import Any

from .errors import SerializationError

_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def dumps(value: Any, *, what: str = "value") -> str:
    try:
        text = _encoder.encode(value)
        text.encode("utf-8")  # a lone surrogate cannot be sent: refuse it here, by name
        return text
    except UnicodeEncodeError:
        raise SerializationError(
            f"{what} contains a lone surrogate, not valid Unicode.", field=what
        ) from None
    except (TypeError, ValueError) as exc:
        raise SerializationError(f"{what} is not JSON-serialisable: {exc}", field=what) from None
    except RecursionError:
        raise SerializationError(f"{what} is nested too deeply to serialise.", field=what) from None


def loads(text: str | bytes | None) -> Any:
    return None if text is None or text == "" else json.loads(text)


def check_kwargs_keys(kwargs: dict) -> None:
    """Keyword names must be identifiers: they become Python keyword arguments."""
    for key in kwargs:
        if not isinstance(key, str) or not key.isidentifier():
            raise SerializationError(
                f"kwargs keys must be Python identifiers, not {key!r}.", field="kwargs"
            )
