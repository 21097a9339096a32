"""Builders for the OpenAPI document's schemas (see openapi.py)."""

from taskqueue.status import Status

ANY: dict = {}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
STATUSES = [s.value for s in Status]


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict, *, optional: tuple = (), extra: bool = True) -> dict:
    """An object schema; every property is required unless named in `optional`."""
    out = {
        "type": "object",
        "properties": properties,
        "required": [k for k in properties if k not in optional],
    }
    if not extra:
        out["additionalProperties"] = False
    return out


def nullable(kind: str) -> dict:
    return {"type": [kind, "null"]}
