"""Every console URL, found from the URL patterns (a new page or action is covered
without being listed here), against hostile path segments, query parameters and form
fields: size, type and encoding. Never a 500; a hostile path changes nothing, and a
form post never redirects off the site."""

import re

import pytest
from django.urls import URLPattern, get_resolver

from taskqueue import inspect
from taskqueue.workflows import chain
from tests.support.records import make_dead
from tests.support.tasks import sample

pytestmark = pytest.mark.django_db

PATH_VALUES = {
    "long": "x" * 5000,
    "nul": "a%00b",
    "not-utf8": "%FF%FE",
    "dotdot": "..%2F..%2Fetc",
    "newline": "default%0A",
    "emoji": "%F0%9F%98%80",
    "braces": "%7Bt%7D",
    "script": "%3Cscript%3E",
}
QUERY_NAMES = ("status", "q", "cursor", "queue", "name", "exception", "page")
QUERY_VALUES = {
    "huge-int": "9" * 400,
    "float-overflow": "1e999",
    "long": "x" * 20_000,
    "nul": "a%00b",
    "not-utf8": "%FF%FE",
    "cursor-like": "1e999:x",
    "cursor-nan": "nan:x",
    "script": "%3Cscript%3Ealert(1)%3C/script%3E",
}
FORM_NAMES = (
    "ids", "action", "scope", "to_queue", "confirm", "confirm_scope", "confirm_ids",
    "confirm_to_queue", "queue", "name", "exception", "next", "shown", "count", "expected",
    "rate", "burst", "concurrency", "task", "rate_mode", "concurrency_mode", "declared",
)  # fmt: skip
FORM_VALUES = {
    "long": "x" * 20_000,
    "nul": "a\x00b",
    "huge-int": "9" * 400,
    "newline-queue": "default\n",
    "offsite": "https://evil.example/",
    "scheme-relative": "//evil.example/",
    "script": "<script>alert(1)</script>",
}


def console_urls() -> list[tuple[str, str]]:
    """(name, path template) of every console URL, path parameters as {name}."""
    resolver = get_resolver()
    dashboard = next(p for p in resolver.url_patterns if getattr(p, "namespace", "") == "dashboard")
    prefix = str(dashboard.pattern)
    return [
        (p.name, "/" + prefix + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(p.pattern)))
        for p in dashboard.url_patterns
        if isinstance(p, URLPattern)
    ]


URLS = dict(console_urls())
PAGES = [
    "overview", "queue", "tasks", "task", "scheduled", "dead", "periodic", "workers",
    "workflows", "workflow", "workflow-nodes", "charts", "catalogue", "catalogue-task",
]  # fmt: skip
ACTIONS = [
    "queue-pause", "queue-resume", "queue-purge", "task-cancel", "task-retry", "task-run-now",
    "task-delete", "bulk", "dead-requeue", "dead-purge", "workflow-cancel", "workflow-requeue",
    "queue-limits", "worker-quiet", "worker-stop",
]  # fmt: skip


@pytest.fixture
def state(broker):
    """A dead task and a pending one, and the counts to compare with afterwards."""
    dead = sample.enqueue(2)
    make_dead(broker, dead)
    pending = sample.enqueue(1)
    flow = chain(sample.s(3), sample.s()).enqueue()
    return {"pending": pending.id, "dead": dead.id, "workflow": flow.id, "counts": snapshot()}


def snapshot() -> dict:
    return {q: inspect.queue_summary(q).counts for q in ("default", "emails")}


def fill(template: str, state: dict) -> str:
    name = sample.name if template.startswith("/catalogue/") else "default"  # a task's entry
    return template.format(name=name, task_id=state["pending"], workflow_id=state["workflow"])


def failures(client, state, requests, *, unchanged: bool) -> list[str]:
    """Send each (label, method, url, data); what answered a 5xx, redirected off the
    site, or (with `unchanged`) changed the counts."""
    found = []
    for label, method, url, data in requests:
        response = client.get(url) if method == "GET" else client.post(url, data)
        location = response.get("Location", "")
        if response.status_code >= 500:
            found.append(f"{label}: {response.status_code}")
        elif (location and not location.startswith("/")) or location.startswith("//"):
            found.append(f"{label}: redirects to {location[:80]}")
        elif unchanged and snapshot() != state["counts"]:
            found.append(f"{label}: changed the counts")
    return found


def test_every_console_url_is_a_known_page_or_action():
    assert sorted(URLS) == sorted(PAGES + ACTIONS)


@pytest.mark.parametrize("name", [n for n in URLS if "{" in URLS[n]])
def test_a_hostile_path_segment_is_never_a_500_and_changes_nothing(operator_client, state, name):
    method = "GET" if name in PAGES else "POST"
    requests = [
        (label, method, re.sub(r"\{\w+\}", value, URLS[name]), {})
        for label, value in PATH_VALUES.items()
    ]
    assert failures(operator_client, state, requests, unchanged=True) == []


@pytest.mark.parametrize("name", PAGES)
def test_a_hostile_query_parameter_never_fails_a_page(operator_client, state, name):
    url = fill(URLS[name], state)
    assert operator_client.get(url).status_code == 200
    requests = [
        (f"{param}={label}", "GET", f"{url}?{param}={value}&{param}=again", {})
        for param in QUERY_NAMES
        for label, value in QUERY_VALUES.items()
    ]
    assert failures(operator_client, state, requests, unchanged=True) == []


@pytest.mark.parametrize("name", ACTIONS)
def test_a_hostile_form_field_never_fails_an_action(operator_client, state, name):
    url = fill(URLS[name], state)
    assert operator_client.get(url).status_code == 405  # the action exists, and wants a POST
    requests = [
        (f"{field}={label}", "POST", url, {field: value})
        for field in FORM_NAMES
        for label, value in FORM_VALUES.items()
    ]
    assert failures(operator_client, state, requests, unchanged=False) == []


@pytest.mark.parametrize("name", ["bulk", "dead-requeue", "dead-purge"])
def test_an_action_with_a_thousand_and_one_fields_is_refused(operator_client, state, name):
    url = fill(URLS[name], state)
    response = operator_client.post(url, {"ids": [state["dead"]] * 1001})
    assert response.status_code == 400
    assert snapshot() == state["counts"]
