"""Reading a JSON request body: the right content type, a size cap, strict parsing.

The cap holds for chunked bodies too (no Content-Length): the stream is read at most
one byte past the limit. Parsing refuses what Python's json module would otherwise
let through: NaN and Infinity, numbers that overflow to infinity, integers longer
than Python accepts, and nesting deep enough to exhaust the recursion limit.
"""

import json
import math
import re
from typing import Any

from .conf import api_settings
from .errors import ApiError

JSON_TYPE = "application/json"
MAX_DEPTH = 100  # arrays and objects inside each other; deeper bodies get a 400
# A \uD800-\uDFFF escape: the only way a lone surrogate (which UTF-8 cannot carry,
# so Redis could not store it) gets into a body that decoded as UTF-8.
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def require_json_type(request) -> None:
    """415 unless the body is declared JSON (UTF-8, the only charset JSON has)."""
    charset = (request.content_params.get("charset") or "utf-8").lower()
    if request.content_type != JSON_TYPE or charset not in ("utf-8", "utf8"):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Send the body as {JSON_TYPE} (UTF-8), not {request.content_type or 'nothing'!r}.",
        )


def read_json(request) -> Any:
    """The parsed JSON body of a request that must have one."""
    require_json_type(request)
    raw = read_capped(request, api_settings().MAX_BODY_BYTES)
    if not raw.strip():
        raise ApiError(400, "malformed_json", "The request body is empty; send a JSON object.")
    value = parse(raw)
    if SURROGATE_ESCAPE.search(raw):
        check_no_lone_surrogates(value)
    return value


def read_capped(request, limit: int) -> bytes:
    """At most `limit` bytes of the body; 413 past that, whatever Content-Length says."""
    if declared_length(request) > limit:
        raise too_large(limit)
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise too_large(limit)
    return raw


def declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def too_large(limit: int) -> ApiError:
    return ApiError(
        413, "payload_too_large", f"The request body is over the limit of {limit} bytes."
    )


def parse(raw: bytes) -> Any:
    try:
        value = json.loads(
            raw.decode("utf-8"), parse_constant=_refuse_constant, parse_float=_finite_float
        )
    except UnicodeDecodeError:
        raise malformed("the body is not valid UTF-8") from None
    except RecursionError:
        raise malformed("the body is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise malformed(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:  # an integer past sys.get_int_max_str_digits(), NaN, 1e999
        raise malformed(str(exc).split(";")[0]) from None
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and depth(value) > MAX_DEPTH:
        raise malformed(f"it nests arrays and objects more than {MAX_DEPTH} deep")
    return value


def depth(value: Any) -> int:
    """How deep arrays and objects nest in a parsed value (without recursion)."""
    deepest, stack = 0, [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, level + 1) for c in children if isinstance(c, (dict, list)))
    return deepest


def check_no_lone_surrogates(value: Any) -> None:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        message = "The body contains a lone UTF-16 surrogate (\\uD800-\\uDFFF), which is not text."
        raise ApiError(422, "validation_error", message, {"body": message}) from None


def malformed(reason: str) -> ApiError:
    return ApiError(400, "malformed_json", f"The request body is not acceptable JSON: {reason}.")


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is too large")
    return value
