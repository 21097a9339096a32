"""Security of the console: every action needs login, the operator permission and a
CSRF token; pages carry the security headers; user-supplied text renders inert."""

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from dashboard.fragments import render_fragment
from taskqueue.records import TaskError
from tests.support.tasks import sample

pytestmark = pytest.mark.django_db

ARGS = {"task_id": "some-task", "name": "default", "workflow_id": "some-workflow"}


def console_urls() -> list[tuple[str, object]]:
    """(path, view) of every route of the console's URLconf, arguments filled in."""
    resolver = next(
        p for p in get_resolver().url_patterns if isinstance(p, URLResolver) and p.app_name
        == "dashboard"
    )  # fmt: skip
    out = []
    for pattern in resolver.url_patterns:
        assert isinstance(pattern, URLPattern)
        route = str(pattern.pattern)
        for name, value in ARGS.items():
            route = route.replace(f"<str:{name}>", value)
        out.append(("/" + route, pattern.callback))
    return out


ALL = console_urls()
ACTIONS = [(url, view) for url, view in ALL if getattr(view, "console_action", False)]


def test_the_walk_finds_every_action():
    assert len(ACTIONS) == 15  # ... cancel a workflow, requeue a dead task of one, quiet
    # and stop a worker
    # overview, queue, tasks, task, scheduled, dead, periodic, workers, the workflows,
    # a workflow, a workflow's tasks, the charts, the tasks catalogue and one task's entry
    assert len(ALL) == len(ACTIONS) + 14


@pytest.mark.parametrize(("url", "view"), ALL, ids=[u for u, _ in ALL])
def test_every_console_url_sends_anonymous_visitors_to_log_in(client, url, view):
    for method in (client.get, client.post):
        response = method(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize(("url", "view"), ALL, ids=[u for u, _ in ALL])
def test_a_viewer_cannot_post_to_any_console_url(viewer, url, view):
    client = Client(enforce_csrf_checks=True)
    client.force_login(viewer)
    client.get("/")  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    response = client.post(url, {"ids": ["x"], "action": "cancel"}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == (403 if view in dict(ACTIONS).values() else 405)


@pytest.mark.parametrize(("url", "view"), ACTIONS, ids=[u for u, _ in ACTIONS])
def test_every_action_refuses_a_post_without_a_csrf_token(operator, url, view):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    response = client.post(url, {"ids": ["x"], "action": "cancel"})
    assert response.status_code == 403
    assert b"CSRF" in response.content


@pytest.mark.parametrize(("url", "view"), ACTIONS, ids=[u for u, _ in ACTIONS])
def test_every_action_refuses_get(operator_client, url, view):
    assert operator_client.get(url).status_code == 405


def test_pages_carry_a_csp_without_inline_script_and_deny_framing(viewer_client):
    response = viewer_client.get("/")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"
    scripts = re.findall(rb"<script[^>]*>", response.content)
    assert scripts and all(b' src="/static/' in tag for tag in scripts)


PAYLOADS = [
    "<script>alert('x')</script>",
    "<img src=x onerror=\"fetch('/bulk/')\">",
    '<button hx-post="/bulk/" hx-trigger="load">go</button>',
]


def test_payloads_in_args_name_and_error_render_as_text(viewer_client, broker):
    handle = sample.enqueue(*PAYLOADS, note=PAYLOADS[2])
    page = viewer_client.get(f"/tasks/{handle.id}/").content.decode()
    for payload in PAYLOADS:
        assert payload not in page
    assert "&lt;script&gt;alert(" in page
    assert "&lt;button hx-post=" in page


def test_fragments_pushed_live_are_escaped_too(broker):
    handle = sample.enqueue(*PAYLOADS)
    (claimed,) = broker.claim("default", "<b>worker</b>", 1)
    broker.fail(claimed.queue, claimed.id, claimed.attempt, retry_delay_ms=None,
                error=TaskError("<i>Err</i>", PAYLOADS[1], PAYLOADS[0]))  # fmt: skip
    for kind in ("task-row", "task-panel"):
        html = render_fragment(kind, handle.id, can_operate=True)
        assert "<i>Err</i>" not in html and "&lt;i&gt;Err&lt;/i&gt;" in html
        assert PAYLOADS[1] not in html
