"""Each registered task's arguments in the OpenAPI document (docs/tasks.md#typed-arguments),
so that a client in another language can generate a typed call of each task:

- `TaskPayload.<task name>`: `{"task": <its name>, "args": [...], "kwargs": {...}}`, the
  args and kwargs as the task's signature and type hints make them (what POST /tasks
  checks; named types such as dataclasses are components `TaskPayload.<task>.<Type>`);
- `TaskPayloads`: a oneOf of them, told apart by `task` (a discriminator).

Every one leaves the other fields of a request open, so `allOf: [EnqueueRequest,
TaskPayload.<task>]` is a typed POST /tasks body. A task that is not checked
(`@task(validate=False)`, TASKQUEUE["VALIDATE_PAYLOADS"] off) takes any args and kwargs.
"""

import logging
import re

from taskqueue.payloads import payload_of, validates
from taskqueue.registry import registry

from .openapi_helpers import ref

log = logging.getLogger("api.openapi")
PREFIX = "TaskPayload."
UNCHECKED = {"args": {"type": "array"}, "kwargs": {"type": "object"}}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")  # what a component's name may not hold


def payload_schemas() -> dict:
    """The components: one TaskPayload.<name> per registered task, their named types,
    and TaskPayloads."""
    out, mapping = {}, {}
    for task in sorted(registry, key=lambda t: t.name):
        key = _unique(PREFIX + _UNSAFE.sub("_", task.name), out)
        schema, defs = _task_schema(task, key)
        out[key] = schema
        out |= {f"{key}.{name}": sub for name, sub in defs.items()}
        mapping[task.name] = ref(key)["$ref"]
    described = {
        "description": "A task's name and its arguments, typed by its signature and type "
        "hints (one of TaskPayload.<task name>; docs/tasks.md#typed-arguments)."
    }
    if not mapping:  # no task registered: nothing can be enqueued (oneOf may not be empty)
        out["TaskPayloads"] = described | {"not": {}}
        return out
    out["TaskPayloads"] = described | {
        "oneOf": [{"$ref": target} for target in mapping.values()],
        "discriminator": {"propertyName": "task", "mapping": mapping},
    }
    return out


def _task_schema(task, key: str) -> tuple[dict, dict]:
    """The task's TaskPayload schema, and its named types (for components)."""
    schema = {"properties": UNCHECKED}
    if validates(task):
        try:
            schema = payload_of(task).json_schema(f"#/components/schemas/{key}.{{model}}")
        except Exception as exc:  # a signature inspect cannot read: documented as unchecked
            log.warning("task %s: no payload schema (%s)", task.name, exc)
    out = {
        "title": task.name,
        "type": "object",
        "properties": {"task": {"const": task.name}} | schema["properties"],
        "required": ["task", *schema.get("required", [])],
    }
    if "allOf" in schema:
        out["allOf"] = schema["allOf"]
    if task.__doc__:
        out["description"] = task.__doc__.strip()[:1000]
    return out, schema.get("$defs", {})


def _unique(key: str, taken: dict) -> str:
    n, candidate = 2, key
    while candidate in taken:
        candidate, n = f"{key}_{n}", n + 1
    return candidate
