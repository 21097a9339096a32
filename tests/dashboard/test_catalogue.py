"""The tasks catalogue (issue 21, the console's item): /catalogue/ lists every registered
task with its signature, docstring summary, queue, priority, retry policy, time limit,
declared limits and those in force now; /catalogue/<name>/ adds the whole docstring and
the payload's JSON Schema, pretty-printed and escaped; the task page's "Task" box shows
the signature and summary of a task instance's name, or says the name is unknown."""

import json
from html import escape
from typing import Literal

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from dashboard import access
from taskqueue import flow, task
from taskqueue.audit import Actor
from taskqueue.limits import Limit, Rate
from taskqueue.payloads import payload_of
from taskqueue.registry import registry
from tests.factories import make_task
from tests.support.tasks import other, sample, send
from tests.support.web import HTMX, logged_in, make_user

pytestmark = pytest.mark.django_db

HOSTILE_NAME = "tests.catalogue.<i>hostile</i>&"
SCRIPT = "<script>alert('doc')</script>"


@pytest.fixture
def client(db):
    return logged_in(make_user("vera", "view_console"))


@pytest.fixture
def hostile():
    """A task whose name and docstring hold HTML, registered for this test only."""

    def hostile_task(note: Literal["<b>x</b>", "plain"] = "plain", *, count: int = 1):
        """Says <script>alert('doc')</script> first.

        Then a second paragraph, with </pre> & friends."""

    registered = task(name=HOSTILE_NAME, queue="emails", rate_limit="3/m")(hostile_task)
    yield registered
    registry.unregister(HOSTILE_NAME)


def listing(client, **params) -> str:
    response = client.get("/catalogue/", params)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def detail(client, name: str) -> str:
    response = client.get(reverse("dashboard:catalogue-task", args=[name]))
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def row_of(page: str, name: str) -> str:
    """The catalogue row of one task (from its opening tag to the next row)."""
    start = page.index(f'<tr class="catalogue-row" data-task="{escape(name)}">')
    end = page.find('<tr class="catalogue-row"', start + 1)
    return page[start : end if end != -1 else len(page)]


# -- the list --------------------------------------------------------------------------


def test_every_registered_task_is_listed_with_a_link_to_its_entry(client, broker):
    page = listing(client)
    names = [t.name for t in registry]
    assert len(names) > 20  # the test process registers many
    for name in names:
        url = reverse("dashboard:catalogue-task", args=[name])
        assert f'<a href="{escape(url)}">{escape(name)}</a>' in page, name
    assert f"{len(names)} of {len(names)} tasks" in page


def test_a_row_shows_the_signature_and_declared_options(client, broker):
    row = row_of(listing(client), send.name)  # custom.send in tests/support/tasks.py
    assert "send(to, subject=&#x27;&#x27;)" in row
    assert "<td>emails</td>" in row
    assert '<td class="num">8</td>' in row
    assert "<td>1<br>" in row  # max_retries=1, the backoff below it
    assert "1 s doubling, at most 600 s, with jitter" in row
    assert "<td>30 s</td>" in row


def test_values_a_task_leaves_to_the_settings_are_shown_as_defaults(client, broker):
    row = row_of(listing(client), "tests.taskapp.tasks.echo")
    assert "<td><em>default</em></td>" in row
    assert '<td class="num"><em>5</em></td>' in row
    assert "<td><em>3</em><br>" in row
    assert "<td><em>5 min</em></td>" in row


def test_the_retry_policy_names_the_exceptions_not_retried(client, broker):
    row = row_of(listing(client), "tests.taskapp.tasks.not_retried")
    assert "not on KeyError" in row


def test_a_bound_task_s_signature_leaves_out_celery_s_self(client, broker):
    bound = [t for t in registry if t.hidden_params]
    assert bound, "the test tasks include a bind=True task"
    for t in bound:
        row = row_of(listing(client), t.name)
        assert "(self" not in row, t.name


def test_declared_limits_and_the_limits_in_force_now_are_shown(client, broker, hostile):
    other.enqueue(1)  # queue emails exists
    broker.declare_limits("emails", Limit(), [(hostile.name, Limit(rate=Rate(3, 60_000)))])
    flow.set_limit(Actor("tests", "system"), "emails", hostile.name, rate=Rate(1, 60_000))
    row = row_of(listing(client), hostile.name)
    assert "declared: 3/m" in row
    assert '<span class="limits-now" data-queue="emails">' in row
    assert "1/m" in row and "set by an operator" in row


def test_a_task_without_limits_says_none_declared(client, broker):
    assert "none declared" in row_of(listing(client), sample.name)


def test_a_user_limited_to_other_queues_sees_no_limits_in_force_there(broker, hostile, monkeypatch):
    other.enqueue(1)
    flow.set_limit(Actor("tests", "system"), "emails", hostile.name, rate=Rate(1, 60_000))
    monkeypatch.setattr(access, "queue_access", lambda: {"reporters": ["reports"]})
    user = make_user("rita", "view_console")
    user.groups.add(Group.objects.get_or_create(name="reporters")[0])
    page = listing(logged_in(user))
    assert 'data-queue="emails"' not in page
    assert "Limits in force are shown for your queues only." in page
    assert hostile.name in registry and escape(hostile.name) in page  # definitions: all


# -- search ----------------------------------------------------------------------------


def test_the_search_keeps_the_tasks_whose_name_holds_it_in_any_case(client, broker):
    page = listing(client, q="CONSOLE.")
    assert page.count('<tr class="catalogue-row"') == 2
    assert f'data-task="{sample.name}"' in page and f'data-task="{other.name}"' in page
    assert f"2 of {len(registry)} tasks" in page


def test_an_htmx_search_answers_only_the_list(client, broker):
    response = client.get("/catalogue/", {"q": "console.other"}, **HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="catalogue-list"')
    assert "<nav" not in body and body.count('<tr class="catalogue-row"') == 1


@pytest.mark.parametrize(
    "query", ["<script>x</script>", "a" * 100_000, "nul\x00byte", "\U0001f600 é", "%00", "*?["]
)
def test_a_hostile_search_answers_escaped_and_finds_nothing(client, broker, query):
    page = listing(client, q=query)
    assert '<tr class="catalogue-row"' not in page
    assert "No registered task&#x27;s name holds" in page or "No registered task" in page
    assert "<script>x</script>" not in page


# -- one task --------------------------------------------------------------------------


def test_an_entry_shows_the_pretty_printed_json_schema(client, broker):
    page = detail(client, send.name)
    schema = json.dumps(payload_of(send).json_schema(), indent=2, ensure_ascii=False)
    assert escape(schema) in page
    assert (
        "\n  &quot;$schema&quot;: &quot;https://json-schema.org/draft/2020-12/schema&quot;" in page
    )
    assert "send(to, subject=&#x27;&#x27;)" in page


def test_a_docstring_and_schema_holding_html_are_escaped(client, broker, hostile):
    listed, page = listing(client), detail(client, hostile.name)
    for html in (listed, page):
        assert SCRIPT not in html and "<b>x</b>" not in html and "<i>hostile</i>" not in html
    assert escape(f"Says {SCRIPT} first.") in listed  # the summary, escaped
    assert escape("Then a second paragraph, with </pre> & friends.") in page  # all of it
    assert escape('"<b>x</b>"') in page  # the Literal's value inside the schema
    assert escape(HOSTILE_NAME) in page


def test_an_entry_of_a_task_not_checked_says_so(client, broker, hostile):
    hostile.validate_payload = False
    assert "no (<code>validate=False</code>" in detail(client, hostile.name)
    assert '<span class="badge">off</span>' in row_of(listing(client), hostile.name)


def test_an_unknown_task_name_is_a_404(client, broker):
    response = client.get("/catalogue/no.such.task/")
    assert response.status_code == 404


# -- who may see it --------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/catalogue/", f"/catalogue/{sample.name}/"])
def test_an_anonymous_visitor_is_sent_to_the_login_page(path, broker):
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.parametrize("path", ["/catalogue/", f"/catalogue/{sample.name}/"])
def test_a_user_without_the_viewer_permission_is_refused(path, broker):
    response = logged_in(make_user("nick")).get(path)
    assert response.status_code == 403


def test_the_navigation_links_the_catalogue(client, broker):
    assert '<a href="/catalogue/" aria-current="page">Catalogue</a>' in listing(client)


# -- the task page's Task box ----------------------------------------------------------


def test_the_task_page_shows_the_signature_summary_and_catalogue_link(client, broker, hostile):
    task_id = hostile.enqueue(count=2).id
    page = client.get(f"/tasks/{task_id}/").content.decode()
    box = page[page.index('class="record task-definition"') :]
    box = box[: box.index("</dl>")]
    url = reverse("dashboard:catalogue-task", args=[hostile.name])
    assert f'<a href="{escape(url)}">{escape(hostile.name)}</a>' in box
    assert "hostile_task(note: Literal[" in box
    assert escape(f"Says {SCRIPT} first.") in box and SCRIPT not in page


def test_the_task_page_of_an_unregistered_name_says_so(client, broker):
    record = make_task(name="gone.<b>away</b>", task_id="unregistered-1")
    broker.enqueue([record])
    response = client.get("/tasks/unregistered-1/")
    page = response.content.decode()
    assert response.status_code == 200
    assert 'class="unregistered"' in page
    assert "No task named <code>gone.&lt;b&gt;away&lt;/b&gt;</code> is registered" in page
    assert "/catalogue/" not in page.split('class="record task-definition"')[1].split("</dl>")[0]
