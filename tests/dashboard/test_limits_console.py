"""Flow-control limits in the console (issue 18): a queue's card and page header say
its limits and when it is throttled; its page's Limits section shows each scope's
limits, and operators set, clear and drop them there (dashboard/limit_actions.py),
audited; viewers, CSRF-less posts and users limited to other queues are refused."""

import re

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from dashboard import access, fragments
from dashboard.live.consumers import parse_item
from taskqueue import flow
from taskqueue.audit import Actor
from taskqueue.limits import Limit, Rate
from taskqueue.models import AuditEvent
from tests.support.tasks import other, sample
from tests.support.web import HTMX, logged_in, make_user

pytestmark = pytest.mark.django_db

URL = "/queues/default/limits/"
SAMPLE = sample.name  # console.sample, in queue default
LEASE_MS = 60_000
TESTS = Actor("tests", "system")


@pytest.fixture
def operator(db):
    return make_user("otto", "view_console", "operate_tasks")


@pytest.fixture
def operator_client(operator) -> Client:
    return logged_in(operator)


@pytest.fixture
def viewer_client(db) -> Client:
    return logged_in(make_user("vera", "view_console"))


def declare(broker, own: Limit | None = None, **tasks: Limit):
    """Declare limits in queue default as a worker does (task names as keywords use
    the sample task's name: `sample=Limit(...)`)."""
    named = [(SAMPLE if name == "sample" else name, limit) for name, limit in tasks.items()]
    broker.declare_limits("default", own or Limit(), named)


def hold_two(broker) -> None:
    """Of three sample tasks limited to one at once, one runs and two are held."""
    for i in range(3):
        sample.enqueue(i)
    assert len(broker.claim("default", "w1", 10, lease_ms=LEASE_MS)) == 1
    assert flow.queue_limits("default").held == 2


@pytest.fixture
def held(broker):
    declare(broker, sample=Limit(concurrency=1))
    hold_two(broker)


def post(client, data, url=URL, **extra):
    return client.post(url, data, **HTMX, **extra)


def scope(task=SAMPLE):
    limits = flow.queue_limits("default")
    return limits.own if task is None else limits.tasks[task]


# -- what the pages show ----------------------------------------------------------------


def test_a_queue_without_limits_says_nothing_of_them_and_its_table_is_empty(viewer_client, broker):
    declare(broker, sample=Limit())  # what a worker writes for a task without limits
    assert "limited:" not in viewer_client.get("/").content.decode()
    html = viewer_client.get("/queues/default/").content.decode()
    assert "limited:" not in html
    assert "No limits: its tasks start as soon as a worker takes them." in html


def test_the_card_and_the_header_show_the_limits_held_tasks_and_throttling(
    viewer_client, broker, held
):
    declare(broker, Limit(Rate(200, 1000), 3), sample=Limit(concurrency=1))
    line = "limited: 200/s · 3 at once · 1 task limit · 2 held"
    card = viewer_client.get("/").content.decode()
    assert line in card and '<span class="badge throttled"' in card
    header = viewer_client.get("/queues/default/").content.decode()
    assert '<a href="#limits">limited</a>: 200/s · 3 at once · 1 task limit · 2 held' in header


def test_the_line_counts_thousands_with_commas(broker):
    declare(broker, Limit(concurrency=1000))
    card = fragments.queue_card("default")
    assert card.limits.text == "1,000 at once" and not card.limits.throttled


def test_the_table_shows_each_scopes_limits_where_they_come_from_and_what_they_hold(
    viewer_client, broker
):
    declare(broker, sample=Limit(concurrency=1))
    flow.set_limit(TESTS, "default", SAMPLE, rate=Rate(100, 60_000, 5))
    hold_two(broker)
    html = viewer_client.get("/queues/default/").content.decode()
    row = html[html.index(f'data-scope="task:{SAMPLE}"') :].split("</tr>")[0]
    assert "100/m" in row and "set by an operator; declared: none" in row
    assert "1 at once" in row and '<small class="muted">declared</small>' in row
    numbers = re.findall(r'<td class="num">([^<]*)</td>', row)
    assert numbers == ["5", "2", "1"]  # burst, held, running


def test_the_overview_reads_limits_once_per_queue_and_the_queue_page_once(
    viewer_client, broker, monkeypatch
):
    other.enqueue(1)  # a second queue: emails
    reads = []
    real = flow.queue_limits
    monkeypatch.setattr(flow, "queue_limits", lambda q: reads.append(q) or real(q))
    viewer_client.get("/")
    assert sorted(reads) == ["default", "emails"]
    reads.clear()
    viewer_client.get("/queues/default/")
    assert reads == ["default"]


def test_the_live_fragments_carry_the_limits(broker):
    declare(broker, Limit(Rate(5, 1000)))
    assert parse_item("queue-limits:default") == ("queue-limits", "default")
    table = fragments.render_fragment("queue-limits", "default", can_operate=True)
    assert 'id="limits-default"' in table and 'hx-swap-oob="true"' in table and "5/s" in table
    header = fragments.render_fragment("queue-header", "default", can_operate=False)
    assert '<a href="#limits">limited</a>: 5/s' in header
    card = fragments.render_fragment("queue-card", "default", can_operate=False)
    assert "limited: 5/s" in card


def test_a_card_of_a_queue_that_is_gone_renders_without_limits(broker):
    html = fragments.render_fragment("queue-card", "vanished", can_operate=False)
    assert 'id="queue-vanished"' in html and "limited:" not in html


# -- setting limits ---------------------------------------------------------------------


def test_an_operator_sets_a_task_rate_and_it_is_audited(operator_client, broker):
    data = {"task": SAMPLE, "rate": "100/m", "burst": "5"}
    response = post(operator_client, data)
    html = response.content.decode()
    assert response.status_code == 200
    assert (
        f"Limit set: task {SAMPLE} in default, rate 100/m (burst 5), concurrency unchanged "
        "(0 held tasks back in line)." in html
    )
    assert 'id="limits-default"' in html and "100/m" in html  # the table, swapped
    assert (scope().rate, scope().override_concurrency) == (Rate(100, 60_000, 5), None)
    event = AuditEvent.objects.get()
    assert (event.actor, event.source, event.action, event.queue) == (
        "otto", "console", "set_limit", "default"
    )  # fmt: skip
    assert event.detail["task"] == SAMPLE and event.detail["rate"] == "100/m"


def test_an_operator_sets_the_queues_concurrency(operator_client, broker):
    response = post(operator_client, {"task": "", "concurrency": "4"})
    assert "Limit set: queue default, rate unchanged, concurrency 4 at once" in (
        response.content.decode()
    )
    assert scope(None).concurrency == 4


def test_a_kind_left_blank_keeps_the_operators_value(operator_client, broker):
    post(operator_client, {"task": SAMPLE, "rate": "10/s"})
    post(operator_client, {"task": SAMPLE, "concurrency": "2"})
    assert (scope().rate, scope().concurrency) == (Rate(10, 1000), 2)
    post(operator_client, {"task": SAMPLE, "rate_mode": "none"})
    assert (scope().override_rate, scope().rate, scope().concurrency) == ("", None, 2)


def test_no_limit_lets_held_tasks_back_in_line(operator_client, held):
    response = post(operator_client, {"task": SAMPLE, "concurrency_mode": "none"})
    assert "no concurrency limit (2 held tasks back in line)." in response.content.decode()
    assert flow.queue_limits("default").held == 0
    assert scope().concurrency is None and scope().overridden


def test_back_to_declared_drops_the_operators_values(operator_client, broker):
    declare(broker, sample=Limit(concurrency=3))
    post(operator_client, {"task": SAMPLE, "rate": "1/s", "concurrency": "9"})
    html = operator_client.get("/queues/default/").content.decode()
    assert "Back to declared</button>" in html
    response = post(operator_client, {"task": SAMPLE, "declared": "1"})
    assert f"Limit set: task {SAMPLE} in default, back to declared" in response.content.decode()
    assert not scope().overridden and (scope().rate, scope().concurrency) == (None, 3)
    assert AuditEvent.objects.filter(action="set_limit").count() == 2


def test_a_plain_post_redirects_back_with_the_message(operator_client, broker):
    data = {"rate": "3/m", "next": "/queues/default/#limits"}
    response = operator_client.post(URL, data)
    assert response.status_code == 302 and response["Location"] == "/queues/default/#limits"
    page = operator_client.get("/queues/default/").content.decode()
    assert "Limit set: queue default, rate 3/m" in page and scope(None).rate == Rate(3, 60_000)


# -- refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"rate": "fast"}, "rate limit &#x27;fast&#x27; is not a rate"),
        ({"rate": "5/s", "burst": "lots"}, "burst must be a whole number"),
        ({"concurrency": "0"}, "concurrency limit must be a whole number from 1 to 1,000"),
        ({"rate": "5/s", "rate_mode": "none"}, "rate: give a value or choose no limit, not both."),
        ({"burst": "3"}, "A burst needs a rate."),
        ({"burst": "3", "rate_mode": "declared"}, "choose back to declared, not both."),
        ({"concurrency_mode": "most"}, "concurrency: choose a value, no limit or declared."),
        ({}, "Nothing to set"),
    ],
)
def test_bad_input_is_refused_next_to_the_form(operator_client, broker, data, message):
    response = post(operator_client, {"task": SAMPLE, **data})
    html = response.content.decode()
    assert response.status_code == 400
    form = html[html.index('<form id="limit-form-default"') :]
    assert message in form.split("</form>")[0]
    assert AuditEvent.objects.count() == 0 and not flow.queue_limits("default").tasks


def test_a_task_name_too_long_is_refused_not_cut(operator_client, broker):
    response = post(operator_client, {"task": "t" * 300, "rate": "1/s"})
    assert response.status_code == 400
    assert "task must be a task name of 1 to 200 characters" in response.content.decode()
    assert not flow.queue_limits("default").limited


def test_the_error_is_escaped_and_the_values_kept(operator_client, broker):
    response = post(operator_client, {"task": "<i>t</i>", "rate": "<script>x</script>"})
    html = response.content.decode()
    assert "<script>x</script>" not in html and "<i>t</i>" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html  # in the message and the field
    assert 'value="&lt;i&gt;t&lt;/i&gt;"' in html


def test_a_plain_post_with_bad_input_gets_the_page_with_the_error(operator_client, broker):
    response = operator_client.post(URL, {"rate": "fast", "concurrency": "2"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "<h1>default" in html and 'id="limit-error-default"' in html
    assert 'name="concurrency" value="2"' in html


def test_a_viewer_sees_no_form_and_may_not_post(viewer_client, broker):
    declare(broker, Limit(Rate(5, 1000)))
    flow.set_limit(TESTS, "default", rate=Rate(7, 1000))
    html = viewer_client.get("/queues/default/").content.decode()
    assert '7/s<br><small class="muted">set by an operator; declared: 5/s' in html
    assert "limit-form" not in html and "Back to declared" not in html
    assert post(viewer_client, {"rate": "1/s"}).status_code == 403
    assert post(viewer_client, {"declared": "1"}).status_code == 403
    assert scope(None).rate == Rate(7, 1000)


def test_a_post_without_a_csrf_token_is_refused(operator, broker):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    response = client.post(URL, {"rate": "1/s"}, **HTMX)
    assert response.status_code == 403 and b"CSRF" in response.content
    assert flow.queue_limits("default").own is None and AuditEvent.objects.count() == 0


def test_an_unknown_queue_is_a_404(operator_client, broker):
    assert post(operator_client, {"rate": "1/s"}, url="/queues/nope/limits/").status_code == 404


def test_a_user_limited_to_other_queues_gets_404s(broker, monkeypatch):
    monkeypatch.setattr(access, "queue_access", lambda: {"mailers": ["emails"]})
    other.enqueue(1)
    user = make_user("mia", "view_console", "operate_tasks")
    user.groups.add(Group.objects.create(name="mailers"))
    client = logged_in(user)
    assert client.get("/queues/default/").status_code == 404
    assert post(client, {"rate": "1/s"}).status_code == 404
    assert client.post(URL, {"rate": "1/s"}).status_code == 404
    assert flow.queue_limits("default").own is None
    assert post(client, {"rate": "1/s"}, url="/queues/emails/limits/").status_code == 200
    assert flow.queue_limits("emails").own.rate == Rate(1, 1000)
