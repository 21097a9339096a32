"""The body of POST /tasks: checked field by field before the engine sees it.

The engine validates every option again (queue name, priority, retries, delay, eta,
payload size, kwargs keys); here we check the JSON shapes the engine does not know:
unknown fields, the task name's type, `delay_seconds` versus `eta`, the ISO 8601 eta,
the ids of `depends_on`. The nodes of POST /workflows take the same options
(`parse_options`, workflow_body.py).
"""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime

from taskqueue import options
from taskqueue.errors import PayloadInvalid
from taskqueue.payloads import check_call
from taskqueue.registry import registry

from .errors import ApiError, invalid

OPTION_FIELDS = ("queue", "priority", "delay_seconds", "eta", "max_retries", "tenant")
FIELDS = ("task", "args", "kwargs", *OPTION_FIELDS, "depends_on")
MAX_NAME = 200
MAX_IDEMPOTENCY_KEY = 150  # the engine allows 200; the API adds 'api:<user id>:'
MAX_DEPENDS_ON = 1000  # task ids one task may wait for
MAX_TASK_ID = 64
FINGERPRINT = "api_body_sha256"  # kept in the meta of what a request made, to know it again


@dataclass(frozen=True)
class EnqueueRequest:
    task: str
    args: object
    kwargs: object
    options: dict = field(default_factory=dict)
    fingerprint: str = ""
    depends_on: tuple[str, ...] = ()  # ids of existing tasks it waits for


def parse_enqueue(body: object) -> EnqueueRequest:
    check_fields(body, FIELDS)
    return EnqueueRequest(
        task=task_name(body.get("task")),
        args=body.get("args", []),
        kwargs=body.get("kwargs", {}),
        options=parse_options(body),
        fingerprint=fingerprint(body),
        depends_on=_task_ids(body.get("depends_on")),
    )


def check_payload(spec: EnqueueRequest) -> None:
    """422 naming every argument that does not fit the task's parameters and type hints,
    by JSON path (`args[1]`, `kwargs.user.email`); the engine checks again on enqueue."""
    if not isinstance(spec.args, list) or not isinstance(spec.kwargs, dict):
        return  # the engine's 422 on `args` / `kwargs`
    try:
        check_call(registry.get(spec.task), spec.args, spec.kwargs)
    except PayloadInvalid as exc:
        raise payload_error(exc) from None


def payload_error(exc: PayloadInvalid) -> ApiError:
    """The 422 of arguments that do not fit: one entry in `fields` per bad argument."""
    return ApiError(422, "validation_error", str(exc), dict(exc.fields))


def check_fields(body: object, allowed: tuple[str, ...], where: str = "body") -> None:
    """422 unless `body` (the body, or the object at path `where` in it) is a JSON
    object holding only `allowed` fields; the fields named are paths from the body."""
    if not isinstance(body, dict):
        raise invalid(where, f"{'The body' if where == 'body' else where} must be a JSON object.")
    unknown = [key for key in body if key not in allowed]
    if unknown:
        message = f"Unknown field; the fields are {', '.join(allowed)}."
        paths = unknown[:20] if where == "body" else [f"{where}.{k}" for k in unknown[:20]]
        raise ApiError(422, "validation_error", message, dict.fromkeys(paths, message))


def parse_options(body: dict) -> dict:
    """The engine's enqueue options for the OPTION_FIELDS present in `body`."""
    options = {
        name: body[name]
        for name in ("queue", "priority", "max_retries", "tenant")
        if body.get(name) is not None
    }
    return options | _when(body)


def task_name(name: object) -> str:
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME or not name.isprintable():
        raise invalid(
            "task",
            f"task must be the registered name of a task: 1 to {MAX_NAME} printable characters.",
        )
    return name


def _task_ids(value: object) -> tuple[str, ...]:
    """The ids `depends_on` names, each once, in order ([] or absent: none)."""
    if value is None:
        return ()
    message = (
        f"depends_on must be a list of at most {MAX_DEPENDS_ON} task ids "
        f"(1 to {MAX_TASK_ID} printable characters each)."
    )
    if not isinstance(value, list) or len(value) > MAX_DEPENDS_ON:
        raise invalid("depends_on", message)
    for item in value:
        if not isinstance(item, str) or not 0 < len(item) <= MAX_TASK_ID or not item.isprintable():
            raise invalid("depends_on", message)
    return tuple(dict.fromkeys(value))


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


def stored_fingerprint(record) -> str | None:
    """The fingerprint of the body that made a task (see FINGERPRINT)."""
    return record.meta.get(FINGERPRINT) if isinstance(record.meta, dict) else None


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
