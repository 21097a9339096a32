"""Every API endpoint, found from the URL patterns (a new one is covered without being
listed here), against hostile path segments, query parameters and bodies: size, depth,
type and encoding, each sent with the endpoint's own method, and the body and query
parameters it reads. Each answers a 4xx or 2xx in the one error shape, never a 500,
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
QUERY_NAMES = ("queue", "status", "name", "exception", "q", "limit", "cursor", "offset",
               "task", "tenant")  # fmt: skip
QUERY_VALUES = {
    "newline": "acme%0A",
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
# the fields any write's body in the API may hold, each given values of every wrong shape
BODY_FIELDS = (
    "task", "args", "kwargs", "queue", "priority", "delay_seconds", "eta", "max_retries",
    "tenant", "ids", "filter", "dry_run", "confirmation", "to_queue", "everything",
    "rate", "burst", "concurrency", "max_backlog", "tenant_backlog",
)  # fmt: skip
WRONG_VALUES = {
    "newline": "acme\n",
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
# the writes that read a JSON body, each with a body it would accept; the other writes
# act on their path alone
WITH_BODY = {
    ("POST", "tasks"): {"task": "tests.api.echo"},
    ("POST", "workflows"): {"nodes": [{"key": "a", "task": "tests.api.echo"}]},
    ("POST", "dlq/requeue"): {"filter": {}},
    ("POST", "dlq/purge"): {"filter": {}},
    ("POST", "queues/{name}/purge"): {"dry_run": True},
    ("PUT", "queues/{name}/limits"): {"concurrency": 1},
}
WITHOUT_BODY = [
    ("POST", "tasks/{task_id}/cancel"), ("POST", "tasks/{task_id}/retry"),
    ("POST", "queues/{name}/pause"), ("POST", "queues/{name}/resume"),
    ("POST", "workflows/{workflow_id}/cancel"),
]  # fmt: skip
# the query parameters a write reads (a read is sent every name of QUERY_NAMES)
WRITE_QUERIES = {("DELETE", "queues/{name}/limits"): ("task", "tenant")}


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


def send(api, method: str, path: str, *, body: bytes = b"", query: str = ""):
    """The request as its client would send it: its own method, its body (if any)."""
    url = f"/api/v1/{path}" + (f"?{query}" if query else "")
    return api.client.generic(method, url, body, content_type="application/json")


def real_body(method: str, template: str) -> bytes:
    body = WITH_BODY.get((method, template))
    return b"" if body is None else json.dumps(body).encode()


def failures(api, state, requests, *, may_accept: bool = False) -> list[str]:
    """Send each (label, method, path, query, body); what answered a 5xx, broke the
    error shape, changed the counts, or (unless `may_accept`) was accepted by a write."""
    found = []
    for label, method, path, query, body in requests:
        response = send(api, method, path, body=body, query=query)
        status = response.status_code
        if status >= 500 or (status >= 400 and not well_formed(response)):
            found.append(f"{label}: {status} {response.content[:120]!r}")
        elif method != "GET" and status < 400 and not may_accept:
            found.append(f"{label}: accepted ({status})")
        elif snapshot() != state["counts"]:
            found.append(f"{label}: changed the counts")
    return found


def well_formed(response) -> bool:
    try:
        return bool(error_of(response)["message"])
    except (AssertionError, ValueError, KeyError):
        return False


def test_every_write_is_known_to_read_a_body_or_not():
    writes = sorted((m, t) for m, t in ENDPOINTS if m not in ("GET", "DELETE"))
    assert writes == sorted([*WITH_BODY, *WITHOUT_BODY])


def test_every_write_reaches_its_view_with_its_own_method_and_body(api, state):
    """What the sweep sends gets past the routing (no 405): PUT as PUT, a body where the
    view reads one."""
    paths = {"name": "default", "task_id": state["pending"], "workflow_id": state["workflow"]}
    answers = {
        f"{method} {template}": send(
            api, method, template.format(**paths), body=real_body(method, template)
        ).status_code
        for method, template in [*WITH_BODY, *WITHOUT_BODY, *WRITE_QUERIES]
    }
    assert {request: s for request, s in answers.items() if s == 405 or s >= 500} == {}
    assert answers["PUT queues/{name}/limits"] == answers["POST queues/{name}/purge"] == 200


@pytest.mark.parametrize(("method", "template"), WITH_PARAMS)
def test_a_hostile_path_segment_is_a_4xx_and_changes_nothing(api, state, method, template):
    requests = [
        (label, method, re.sub(r"\{\w+\}", value, template), "", real_body(method, template))
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


@pytest.mark.parametrize(("method", "template"), list(WRITE_QUERIES))
def test_a_hostile_query_parameter_never_fails_a_write(api, state, method, template):
    """A write may act on what a hostile parameter names (clearing the limits of a task
    that has none changes nothing); it never answers a 5xx or moves a task."""
    path = template.format(name="default")
    requests = [
        (f"{name}={label}", method, path, f"{name}={value}", b"")
        for name in WRITE_QUERIES[method, template]
        for label, value in QUERY_VALUES.items()
    ]
    assert failures(api, state, requests, may_accept=True) == []


@pytest.mark.parametrize(("method", "template"), list(WITH_BODY))
def test_a_field_of_the_wrong_shape_is_a_4xx_and_changes_nothing(api, state, method, template):
    path = template.format(name="default")
    requests = [
        (f"{field}={label}", method, path, "", json.dumps({field: value}).encode())
        for field in BODY_FIELDS
        for label, value in WRONG_VALUES.items()
        if {field: value} != WITH_BODY[method, template]  # {"dry_run": true} is no wrong shape
    ]
    assert failures(api, state, requests) == []


@pytest.mark.parametrize("task", ["tests.api.echo\n", "tests.api\x00echo"], ids=["newline", "nul"])
def test_a_limit_for_a_task_name_with_a_control_character_is_refused(api, broker, task):
    body = json.dumps({"task": task, "concurrency": 1}).encode()
    refused = send(api, "PUT", "queues/default/limits", body=body)
    assert refused.status_code == 422 and "task" in error_of(refused)["fields"]


@pytest.mark.parametrize(("method", "template"), list(WITH_BODY))
def test_a_malformed_body_is_a_4xx_and_changes_nothing(api, state, method, template):
    path = template.format(name="default")
    requests = [(label, method, path, "", raw) for label, raw in RAW_BODIES.items()]
    assert failures(api, state, requests) == []
