"""Every API endpoint, found from the URL patterns (a new one is covered without being
listed here), against hostile path segments, query parameters and bodies: size, depth,
type and encoding. Each answers a 4xx or 2xx in the one error shape, never a 500,
and a hostile body changes nothing."""

import json
import re

import pytest
from django.urls import URLPattern, get_resolver

from taskqueue import inspect
from tests.support.records import make_dead, register_worker
from tests.support.web import error_of

pytestmark = pytest.mark.django_db

PATH_VALUES = {
    "long": "x" * 5000,
    "nul": "a%00b",
    "not-utf8": "%FF%FE",
    "dotdot": "..%2F..%2Fetc",
    "newline": "default%0A",
    "emoji": "%F0%9F%98%80",
    "braces": "%7Bt%7D",
    "colon": "a:b",
    "space": "%20",
}
QUERY_NAMES = ("queue", "status", "name", "exception", "q", "limit", "cursor", "offset")
QUERY_VALUES = {
    "huge-int": "9" * 400,
    "int-10e309": "1" + "0" * 309,
    "negative": "-1",
    "float-overflow": "1e999",
    "nan": "NaN",
    "long": "x" * 20_000,
    "nul": "a%00b",
    "not-utf8": "%FF%FE",
    "json": "%5B%7B%7D%5D",
    "cursor-like": "1e999:x",
    "cursor-nan": "nan:x",
}
# the fields every POST body of the API may hold, each given values of every wrong shape
BODY_FIELDS = (
    "task", "args", "kwargs", "queue", "priority", "delay_seconds", "eta", "max_retries",
    "ids", "filter", "dry_run", "to_queue", "everything",
)  # fmt: skip
WRONG_VALUES = {
    "int-10e309": 10**309,
    "float-big": 1.7e308,
    "deep-list": json.loads("[" * 90 + "]" * 90),
    "long-string": "x" * 100_000,
    "nul-string": "a\x00b",
    "object": {"$gt": ""},
    "list-of-objects": [{"a": 1}] * 3,
    "negative": -1,
    "bool": True,
}
RAW_BODIES = {
    "deep-100000": b"[" * 100_000,
    "deep-object": b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    "not-utf8": b'{"ids": ["\xff\xfe"]}',
    "bom": '\ufeff{"ids": []}'.encode(),
    "huge-number": b'{"ids": [' + b"9" * 5000 + b"]}",
    "array": b"[1, 2, 3]",
    "null": b"null",
}


def endpoints() -> list[tuple[str, str]]:
    """(method, path template) of every API endpoint, path parameters as {name}."""
    api = next(p for p in get_resolver().url_patterns if str(p.pattern) == "api/v1/")
    found = []
    for pattern in api.url_patterns:
        if not isinstance(pattern, URLPattern) or not hasattr(pattern.callback, "handlers"):
            continue
        template = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern))
        found += [(method, template) for method in pattern.callback.handlers]
    return found


ENDPOINTS = endpoints()
WITH_PARAMS = [(m, t) for m, t in ENDPOINTS if "{" in t]
# POST endpoints that read a JSON body; the others act on their path alone
WITH_BODY = ["tasks", "workflows", "dlq/requeue", "dlq/purge"]
WITHOUT_BODY = [
    "tasks/{task_id}/cancel", "tasks/{task_id}/retry",
    "queues/{name}/pause", "queues/{name}/resume", "queues/{name}/purge",
    "workflows/{workflow_id}/cancel",
]  # fmt: skip


@pytest.fixture
def state(api, broker):
    """A pending task, a dead one, and the counts to compare with afterwards."""
    pending = api.post("tasks", {"task": "tests.api.echo", "args": [1]}).json()["id"]
    dead = api.post("tasks", {"task": "tests.api.mail", "args": ["x"]}).json()["id"]
    make_dead(broker, dead, queue="emails")
    register_worker(broker, "w-1", queues="default,emails")  # /health answers 200
    one = {"nodes": [{"key": "a", "task": "tests.api.echo"}]}
    workflow = api.post("workflows", one).json()["id"]
    return {"pending": pending, "dead": dead, "workflow": workflow, "counts": snapshot()}


def snapshot() -> dict:
    return {q: inspect.queue_summary(q).counts for q in ("default", "emails")}


def send(api, method: str, path: str, *, body: bytes = b"{}", query: str = ""):
    url = f"/api/v1/{path}" + (f"?{query}" if query else "")
    if method == "GET":
        return api.client.get(url)
    if method == "DELETE":
        return api.client.delete(url)
    return api.client.post(url, body, content_type="application/json")


def failures(api, state, requests) -> list[str]:
    """Send each (label, method, path, query, body); what answered a 5xx, broke the
    error shape or changed the counts."""
    found = []
    for label, method, path, query, body in requests:
        response = send(api, method, path, body=body, query=query)
        status = response.status_code
        if status >= 500 or (status >= 400 and not well_formed(response)):
            found.append(f"{label}: {status} {response.content[:120]!r}")
        elif method != "GET" and status < 400:
            found.append(f"{label}: accepted ({status})")
        elif snapshot() != state["counts"]:
            found.append(f"{label}: changed the counts")
    return found


def well_formed(response) -> bool:
    try:
        return bool(error_of(response)["message"])
    except (AssertionError, ValueError, KeyError):
        return False


def test_every_post_endpoint_is_known_to_read_a_body_or_not():
    posts = sorted(t for m, t in ENDPOINTS if m == "POST")
    assert posts == sorted(WITH_BODY + WITHOUT_BODY)


@pytest.mark.parametrize(("method", "template"), WITH_PARAMS)
def test_a_hostile_path_segment_is_a_4xx_and_changes_nothing(api, state, method, template):
    requests = [
        (label, method, re.sub(r"\{\w+\}", value, template), "", b"{}")
        for label, value in PATH_VALUES.items()
    ]
    assert failures(api, state, requests) == []


@pytest.mark.parametrize("template", [t for m, t in ENDPOINTS if m == "GET"])
def test_a_hostile_query_parameter_never_fails_a_read(api, state, template):
    path = template.format(task_id=state["pending"], name="default", workflow_id=state["workflow"])
    requests = [
        (f"{name}={label}", "GET", path, f"{name}={value}&{name}=again", b"")
        for name in QUERY_NAMES
        for label, value in QUERY_VALUES.items()
    ]
    assert failures(api, state, requests) == []


@pytest.mark.parametrize("template", WITH_BODY)
def test_a_field_of_the_wrong_shape_is_a_4xx_and_changes_nothing(api, state, template):
    requests = [
        (f"{field}={label}", "POST", template, "", json.dumps({field: value}).encode())
        for field in BODY_FIELDS
        for label, value in WRONG_VALUES.items()
    ]
    assert failures(api, state, requests) == []


@pytest.mark.parametrize("template", WITH_BODY)
def test_a_malformed_body_is_a_4xx_and_changes_nothing(api, state, template):
    requests = [(label, "POST", template, "", raw) for label, raw in RAW_BODIES.items()]
    assert failures(api, state, requests) == []
