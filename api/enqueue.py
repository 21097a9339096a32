"""The body of POST /tasks: checked field by field before the engine sees it.

The engine validates every option again (queue name, priority, retries, delay, eta,
payload size, kwargs keys); here we check the JSON shapes the engine does not know:
unknown fields, the task name's type, `delay_seconds` versus `eta`, the ISO 8601 eta.
"""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime

from taskqueue import options

from .errors import ApiError, invalid

FIELDS = ("task", "args", "kwargs", "queue", "priority", "delay_seconds", "eta", "max_retries")
MAX_NAME = 200
MAX_IDEMPOTENCY_KEY = 150  # the engine allows 200; the API adds 'api:<user id>:'


@dataclass(frozen=True)
class EnqueueRequest:
    task: str
    args: object
    kwargs: object
    options: dict = field(default_factory=dict)
    fingerprint: str = ""


def parse_enqueue(body: object) -> EnqueueRequest:
    if not isinstance(body, dict):
        raise invalid("body", "The body must be a JSON object.")
    unknown = [key for key in body if key not in FIELDS]
    if unknown:
        message = f"Unknown field; the fields are {', '.join(FIELDS)}."
        raise ApiError(422, "validation_error", message, dict.fromkeys(unknown[:20], message))
    options = {
        name: body[name]
        for name in ("queue", "priority", "max_retries")
        if body.get(name) is not None
    }
    options.update(_when(body))
    return EnqueueRequest(
        task=_task_name(body.get("task")),
        args=body.get("args", []),
        kwargs=body.get("kwargs", {}),
        options=options,
        fingerprint=fingerprint(body),
    )


def _task_name(name: object) -> str:
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME or not name.isprintable():
        raise invalid(
            "task",
            f"task must be the registered name of a task: 1 to {MAX_NAME} printable characters.",
        )
    return name


def _when(body: dict) -> dict:
    delay, eta = body.get("delay_seconds"), body.get("eta")
    if delay is not None and eta is not None:
        raise invalid("eta", "Give delay_seconds or eta, not both.")
    if delay is not None:  # checked here too, so that the error names the field sent
        options.delay_ms(delay, field="delay_seconds")
        return {"delay": delay}
    if eta is not None:
        return {"eta": parse_eta(eta)}
    return {}


def parse_eta(value: object) -> datetime:
    """An ISO 8601 date-time with a UTC offset (naive times are ambiguous: refused)."""
    message = "eta must be an ISO 8601 date-time with a UTC offset, e.g. 2030-01-01T12:00:00Z."
    if not isinstance(value, str) or len(value) > 64:
        raise invalid("eta", message)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise invalid("eta", message) from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise invalid("eta", f"eta {value!r} has no UTC offset; add one (Z or +01:00).")
    return when


def fingerprint(body: dict) -> str:
    """A hash of the body's meaning (key order and spacing do not count)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_key(request, user_pk: object) -> str | None:
    """The engine key for the request's Idempotency-Key header, scoped to its user."""
    raw = request.headers.get("Idempotency-Key")
    if raw is None:
        return None
    if not 0 < len(raw) <= MAX_IDEMPOTENCY_KEY or not raw.isprintable():
        raise invalid(
            "Idempotency-Key",
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable characters.",
        )
    return f"api:{user_pk}:{raw}"
