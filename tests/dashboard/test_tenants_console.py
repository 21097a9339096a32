"""The queue page's Tenants block (docs/console.md#tenants): the 20 tenants with the
largest backlogs and the tenant quota, read through taskqueue.flow; shown when the
queue has any tenant, live like the Limits table (fragments "queue-tenants"), and
hidden from users limited to other queues like the rest of the page."""

import re

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from dashboard import fragments
from dashboard.live.consumers import parse_item
from taskqueue import flow
from taskqueue.audit import Actor
from taskqueue.limits import Limit
from tests.factories import make_task
from tests.support.tasks import other, sample
from tests.support.web import logged_in, make_user

pytestmark = pytest.mark.django_db

PAGE = "/queues/default/"


@pytest.fixture
def viewer_client(db) -> Client:
    return logged_in(make_user("vera", "view_console"))


def enqueue(broker, *tenants: str) -> None:
    broker.enqueue([make_task(tenant=tenant) for tenant in tenants])


def block(html: str) -> str:
    start = html.index('id="tenants-default"')
    return html[start : html.index("</section>", start)]


def rows(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<tr class="tenant-row"><td><code>([^<]*)</code></td>'
                      r'<td class="num">([^<]*)</td></tr>', html)  # fmt: skip


def test_a_queue_without_tenants_shows_no_tenants_block(viewer_client, broker):
    sample.enqueue(1)
    html = viewer_client.get(PAGE).content.decode()
    assert 'data-live="queue-tenants:default"' in html  # the live marker waits for tenants
    assert ">Tenants</h2>" not in html


def test_the_block_lists_tenants_largest_backlog_first_with_the_quota(viewer_client, broker):
    broker.declare_limits("default", Limit(tenant_backlog=50), [])
    enqueue(broker, "acme", "acme", "acme", "tiny", "mid", "mid")
    sample.using(tenant="tiny").enqueue(1)
    html = block(viewer_client.get(PAGE).content.decode())
    assert ">Tenants</h2>" in html
    assert "3 tenants with unfinished tasks." in html
    assert "Quota: 50 unfinished tasks per tenant." in html
    assert rows(html) == [("acme", "3"), ("mid", "2"), ("tiny", "2")]


def test_without_a_quota_the_block_says_so(viewer_client, broker):
    enqueue(broker, "acme")
    html = block(viewer_client.get(PAGE).content.decode())
    assert "1 tenant with unfinished tasks." in html and "No tenant quota." in html


def test_an_operator_s_quota_is_the_one_shown(viewer_client, broker):
    broker.declare_limits("default", Limit(tenant_backlog=50), [])
    enqueue(broker, "acme")
    flow.set_quota(Actor("tests", "system"), "default", tenant_backlog=7)
    assert "Quota: 7 unfinished tasks per tenant." in viewer_client.get(PAGE).content.decode()


def test_only_the_20_largest_are_listed_and_the_rest_counted(viewer_client, broker):
    enqueue(broker, *(f"t{i:02}" for i in range(24)), "big", "big")
    html = block(viewer_client.get(PAGE).content.decode())
    assert "25 tenants with unfinished tasks." in html
    listed = rows(html)
    assert len(listed) == 20 and listed[0] == ("big", "2")
    assert "and 5 more with smaller backlogs." in html


def test_tenant_names_are_escaped(viewer_client, broker, redis_client):
    enqueue(broker, "acme")
    html = block(viewer_client.get(PAGE).content.decode())
    assert "<code>acme</code>" in html
    # a name in Redis is untrusted: one written by hand is shown as text
    redis_client.hset(broker.keys.queue("default").tenants, "<b>x</b>", 5)
    html = block(viewer_client.get(PAGE).content.decode())
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


def test_the_page_reads_the_tenants_once_and_the_limits_once(viewer_client, broker, monkeypatch):
    enqueue(broker, "acme")
    reads = {"tenants": 0, "limits": 0}
    real_tenants, real_limits = flow.tenant_backlogs, flow.queue_limits

    def tenants(queue, top=20):
        reads["tenants"] += 1
        return real_tenants(queue, top=top)

    def limits(queue):
        reads["limits"] += 1
        return real_limits(queue)

    monkeypatch.setattr(flow, "tenant_backlogs", tenants)
    monkeypatch.setattr(flow, "queue_limits", limits)
    viewer_client.get(PAGE)
    assert reads == {"tenants": 1, "limits": 1}


def test_the_live_fragment_renders_the_block_for_an_out_of_band_swap(broker):
    assert parse_item("queue-tenants:default") == ("queue-tenants", "default")
    empty = fragments.render_fragment("queue-tenants", "default", can_operate=False)
    assert 'id="tenants-default"' in empty and "<table" not in empty
    enqueue(broker, "acme")
    html = fragments.render_fragment("queue-tenants", "default", can_operate=False)
    assert 'hx-swap-oob="true"' in html and rows(html) == [("acme", "1")]


def test_the_fragment_of_a_queue_not_in_use_is_empty(broker):
    html = fragments.render_fragment("queue-tenants", "nowhere", can_operate=False)
    assert 'id="tenants-nowhere"' in html and "<table" not in html


def test_a_user_limited_to_another_queue_gets_404(broker, settings, tq_settings):
    enqueue(broker, "acme")
    other.enqueue(1)  # emails in use
    settings.TASKQUEUE = tq_settings | {"QUEUE_ACCESS": {"mail team": ["emails"]}}
    user = make_user("mo", "view_console")
    user.groups.add(Group.objects.create(name="mail team"))
    client = logged_in(user)
    assert client.get(PAGE).status_code == 404
    assert client.get("/queues/emails/").status_code == 200
