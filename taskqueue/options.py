"""Validation of the options a task is declared or enqueued with.

Each function returns the clean value or raises a ValidationError subclass naming the
field, the bad value and what is allowed. Nothing reaches Redis before these pass.
"""

import math
import re
from datetime import datetime, timedelta

from .errors import ValidationError
from .names import validate_queue_name
from .priority import validate_priority

MAX_DELAY_SECONDS = 366 * 86_400
MAX_IDEMPOTENCY_KEY = 200
MAX_RETRIES_LIMIT = 1000

__all__ = [
    "delay_ms",
    "eta_ms",
    "idempotency_key",
    "max_retries",
    "timeout",
    "validate_priority",
    "validate_queue_name",
]


def _number(value: object, field: str) -> float:
    try:
        number = float(value) if type(value) in (int, float) else math.nan
    except OverflowError:  # an int past the largest float (10**309): not a delay
        number = math.nan
    if not math.isfinite(number):
        raise ValidationError(f"{field} must be a finite number, not {shown(value)}.", field=field)
    return number


def shown(value: object, limit: int = 40) -> str:
    """The value as an error message shows it: repr, cut short (a huge int's repr may
    itself be refused: sys.get_int_max_str_digits)."""
    try:
        text = repr(value)
    except ValueError:
        return f"an integer of about {value.bit_length() * 0.30103:.0f} digits"
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def delay_ms(value: object, field: str = "delay") -> int:
    """A delay in seconds (number or timedelta) as whole milliseconds."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else _number(value, field)
    if not 0 <= seconds <= MAX_DELAY_SECONDS:
        raise ValidationError(
            f"{field} must be between 0 and {MAX_DELAY_SECONDS} seconds, not {shown(value)}.",
            field=field,
        )
    return int(seconds * 1000)


def eta_ms(value: object, now: datetime, field: str = "eta") -> int:
    """An aware datetime as epoch ms; past times mean 'now', far futures are refused."""
    if not isinstance(value, datetime):
        raise ValidationError(f"{field} must be a datetime, not {shown(value)}.", field=field)
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            f"{field} must be timezone-aware (got naive {value.isoformat()}).", field=field
        )
    if value - now > timedelta(seconds=MAX_DELAY_SECONDS):
        raise ValidationError(
            f"{field} {value.isoformat()} is more than {MAX_DELAY_SECONDS // 86400} days ahead.",
            field=field,
        )
    return max(1, int(value.timestamp() * 1000))


def max_retries(value: object, field: str = "max_retries") -> int:
    if type(value) is not int or not 0 <= value <= MAX_RETRIES_LIMIT:
        raise ValidationError(
            f"{field} must be an integer from 0 to {MAX_RETRIES_LIMIT}, not {shown(value)}.",
            field=field,
        )
    return value


def timeout(value: object, field: str = "timeout") -> float | None:
    if value is None:
        return None
    seconds = _number(value, field)
    if not 0 < seconds <= MAX_DELAY_SECONDS:
        raise ValidationError(
            f"{field} must be a number of seconds > 0, not {shown(value)}.", field=field
        )
    return seconds


def idempotency_key(value: object, field: str = "idempotency_key") -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_IDEMPOTENCY_KEY:
        raise ValidationError(
            f"{field} must be a string of 1 to {MAX_IDEMPOTENCY_KEY} characters, "
            f"not {shown(value)}.",
            field=field,
        )
    if not value.isprintable():
        raise ValidationError(f"{field} must not contain control characters.", field=field)
    return value


MAX_TENANT = 100
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]*")  # fullmatch: `$` allows a final \n


def tenant(value: object, field: str = "tenant") -> str:
    """Whose task it is (docs/flow-control.md#tenants): 1 to 100 characters from
    letters, digits and _ . : @ -, starting with a letter or digit. It names Redis
    fields and metric labels, so nothing else is allowed."""
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= MAX_TENANT
        or not _TENANT.fullmatch(value)
    ):
        raise ValidationError(
            f"{field} must be 1 to {MAX_TENANT} letters, digits or _ . : @ - (starting with a "
            f"letter or digit), not {shown(value)}.",
            field=field,
        )
    return value
