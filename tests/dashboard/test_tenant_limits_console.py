"""Tenant limits and quotas in the console (issue 18): the queue page's Limits table
lists each tenant's limits ("*": the limit each tenant has) and the queue's quotas, and
operators set and clear them through the same form as the queue's and the task names'
(dashboard/limit_actions.py): a tenant and a task together are refused with the API's
words, quotas are the whole queue's, everything is audited; hostile input (huge or
oddly encoded tenant names, absurd numbers, missing fields) is refused next to the form
and changes nothing; viewers and CSRF-less posts are refused."""

import re

import pytest
from django.test import Client

from dashboard import fragments
from taskqueue import flow
from taskqueue.audit import Actor
from taskqueue.errors import QuotaExceeded
from taskqueue.limits import Limit, Rate
from taskqueue.models import AuditEvent
from tests.factories import make_task
from tests.support.tasks import sample
from tests.support.web import HTMX, logged_in, make_user

pytestmark = pytest.mark.django_db

URL = "/queues/default/limits/"
PAGE = "/queues/default/"
TESTS = Actor("tests", "system")
TASK_AND_TENANT = "A limit is a task name&#x27;s or a tenant&#x27;s: send one of them."


@pytest.fixture
def operator(db):
    return make_user("otto", "view_console", "operate_tasks")


@pytest.fixture
def operator_client(operator) -> Client:
    return logged_in(operator)


@pytest.fixture
def viewer_client(db) -> Client:
    return logged_in(make_user("vera", "view_console"))


def post(client, data, url=URL):
    return client.post(url, data, **HTMX)


def tenant(name: str):
    return flow.queue_limits("default").tenants.get(name)


def row(html: str, scope: str) -> str:
    return html[html.index(f'data-scope="{scope}"') :].split("</tr>")[0]


def quota_row(html: str, kind: str) -> str:
    return html[html.index(f'data-quota="{kind}"') :].split("</tr>")[0]


def form_of(html: str) -> str:
    return html[html.index('<form id="limit-form-default"') :].split("</form>")[0]


def nothing_changed() -> None:
    limits = flow.queue_limits("default")
    assert not limits.tenants and not limits.tasks and limits.own is None
    assert limits.quotas_set == {}
    assert not AuditEvent.objects.exists()


# -- what the table shows ---------------------------------------------------------------


def test_the_table_lists_each_tenant_s_limit_and_the_named_tenants(viewer_client, broker):
    broker.declare_limits("default", Limit(per_tenant=Limit(Rate(10, 1000), 2)), [])
    flow.set_limit(TESTS, "default", tenant="acme", rate=Rate(50, 60_000), concurrency=None)
    html = viewer_client.get(PAGE).content.decode()
    every = row(html, "tenant:*")
    assert "each tenant" in every and "10/s" in every and "2 at once" in every
    assert every.count('<small class="muted">declared</small>') == 2
    acme = row(html, "tenant:acme")
    assert "tenant <code>acme</code>" in acme and "50/m" in acme
    assert "set by an operator; declared: none" in acme
    assert "each tenant's: 2 at once" in acme  # its "no limit" follows each tenant's
    assert 'data-scope="queue"' not in html  # tenants are not shown as the queue


def test_a_tenant_without_a_kind_of_its_own_has_each_tenant_s_as_its_row_says(
    viewer_client, broker
):
    broker.declare_limits("default", Limit(per_tenant=Limit(concurrency=1)), [])
    flow.set_limit(TESTS, "default", tenant="acme", rate=Rate(100, 1000), concurrency=None)
    broker.enqueue([make_task(tenant="acme"), make_task(tenant="acme")])
    assert len(broker.claim("default", "w1", 10, lease_ms=60_000)) == 1  # 1 at once
    acme = row(viewer_client.get(PAGE).content.decode(), "tenant:acme")
    assert "each tenant's: 1 at once" in acme and "100/s" in acme


def test_the_header_counts_tenant_limits(viewer_client, broker):
    flow.set_limit(TESTS, "default", tenant="acme", concurrency=3)
    flow.set_limit(TESTS, "default", tenant="*", rate=Rate(1, 1000))
    html = viewer_client.get(PAGE).content.decode()
    assert '<a href="#limits">limited</a>: 2 tenant limits' in html


def test_the_table_shows_the_quotas_declared_and_an_operator_s(viewer_client, broker):
    broker.declare_limits("default", Limit(max_backlog=500_000, tenant_backlog=50), [])
    html = viewer_client.get(PAGE).content.decode()
    assert "No limits: its tasks start" in html  # no rate or concurrency limit
    backlog = quota_row(html, "max_backlog")
    assert "500,000" in backlog and '<small class="muted">declared</small>' in backlog
    flow.set_quota(TESTS, "default", tenant_backlog=None)
    html = viewer_client.get(PAGE).content.decode()
    assert "500,000<br>" in quota_row(html, "max_backlog")
    tenants = quota_row(html, "tenant_backlog")
    assert "no quota" in tenants and "set by an operator; declared: 50" in tenants


def test_a_queue_without_quotas_shows_no_quota_table(viewer_client, broker):
    assert "quota-row" not in viewer_client.get(PAGE).content.decode()


def test_the_live_fragment_carries_tenant_limits_and_quotas(broker):
    flow.set_limit(TESTS, "default", tenant="acme", concurrency=3)
    flow.set_quota(TESTS, "default", max_backlog=1000)
    html = fragments.render_fragment("queue-limits", "default", can_operate=True)
    assert 'data-scope="tenant:acme"' in html and "3 at once" in html
    assert "1,000" in quota_row(html, "max_backlog")
    assert 'name="declared" value="quotas"' in html


def test_the_form_offers_each_tenant_and_the_known_tenants(operator_client, broker):
    broker.enqueue([make_task(tenant="busy")])
    flow.set_limit(TESTS, "default", tenant="acme", concurrency=3)
    html = operator_client.get(PAGE).content.decode()
    listed = html[html.index('<datalist id="limit-tenants-default">') :].split("</datalist>")[0]
    assert re.findall(r'<option value="([^"]*)">', listed) == ["*", "acme", "busy"]
    assert 'name="tenant"' in form_of(html) and 'name="max_backlog"' in form_of(html)


# -- setting tenant limits --------------------------------------------------------------


def test_an_operator_sets_a_tenant_s_limit_and_it_is_audited(operator_client, broker):
    response = post(operator_client, {"tenant": "acme", "rate": "100/m", "burst": "5",
                                      "concurrency": "2"})  # fmt: skip
    html = response.content.decode()
    assert response.status_code == 200
    assert (
        "Limit set: tenant acme in default, rate 100/m (burst 5), concurrency 2 at once "
        "(0 held tasks back in line)." in html
    )
    assert 'data-scope="tenant:acme"' in html  # the table, swapped
    assert (tenant("acme").rate, tenant("acme").concurrency) == (Rate(100, 60_000, 5), 2)
    event = AuditEvent.objects.get()
    assert (event.actor, event.source, event.action) == ("otto", "console", "set_limit")
    assert event.detail["tenant"] == "acme" and event.detail["task"] is None


def test_an_operator_sets_each_tenant_s_limit(operator_client, broker):
    response = post(operator_client, {"tenant": " * ", "concurrency": "4"})
    assert "Limit set: each tenant in default, rate unchanged, concurrency 4 at once" in (
        response.content.decode()
    )
    assert tenant("*").concurrency == 4 and flow.queue_limits("default").own is None
    assert AuditEvent.objects.get().detail["tenant"] == "*"


def test_a_kind_left_blank_keeps_the_tenant_s_operator_value(operator_client, broker):
    post(operator_client, {"tenant": "acme", "rate": "10/s"})
    post(operator_client, {"tenant": "acme", "concurrency": "2"})
    assert (tenant("acme").rate, tenant("acme").concurrency) == (Rate(10, 1000), 2)
    post(operator_client, {"tenant": "acme", "rate_mode": "none"})
    assert (tenant("acme").override_rate, tenant("acme").concurrency) == ("", 2)


def test_back_to_declared_on_a_tenant_row_drops_that_tenant_s_limit(operator_client, broker):
    broker.declare_limits("default", Limit(per_tenant=Limit(concurrency=2)), [])
    post(operator_client, {"tenant": "acme", "concurrency": "9"})
    post(operator_client, {"tenant": "*", "concurrency": "5"})
    html = operator_client.get(PAGE).content.decode()
    assert 'name="tenant" value="acme"' in row(html, "tenant:acme")
    response = post(operator_client, {"task": "", "tenant": "acme", "declared": "1"})
    assert "Limit set: tenant acme in default, back to declared" in response.content.decode()
    assert tenant("acme") is None  # nothing declared for one tenant: the scope is gone
    assert tenant("*").concurrency == 5  # the other tenant scope as it was
    post(operator_client, {"tenant": "*", "declared": "1"})
    assert (tenant("*").concurrency, tenant("*").overridden) == (2, False)


# -- setting quotas ---------------------------------------------------------------------


def test_an_operator_sets_the_quotas_and_they_are_audited(operator_client, broker):
    response = post(operator_client, {"max_backlog": "1000000", "tenant_backlog": "500"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Quotas set: queue default, max backlog 1,000,000, per-tenant backlog 500." in html
    assert "1,000,000" in quota_row(html, "max_backlog")  # the table, swapped
    assert 'id="tenants-default"' in html  # the Tenants block (its quota), swapped too
    limits = flow.queue_limits("default")
    assert (limits.max_backlog, limits.tenant_backlog) == (1_000_000, 500)
    event = AuditEvent.objects.get()
    assert event.detail == {"max_backlog": 1_000_000, "tenant_backlog": 500}
    assert event.actor == "otto" and event.source == "console"


def test_a_quota_left_blank_stays_as_it_is(operator_client, broker):
    broker.declare_limits("default", Limit(max_backlog=900), [])
    post(operator_client, {"tenant_backlog": "50"})
    limits = flow.queue_limits("default")
    assert limits.quotas_set == {"tenant_backlog": "50"}  # the declared one not pinned
    assert (limits.max_backlog, limits.tenant_backlog) == (900, 50)
    post(operator_client, {"max_backlog": "100"})
    limits = flow.queue_limits("default")
    assert limits.quotas_set == {"max_backlog": "100", "tenant_backlog": "50"}
    post(operator_client, {"max_backlog_mode": "none"})
    assert flow.queue_limits("default").quotas_set == {"max_backlog": "", "tenant_backlog": "50"}
    assert flow.queue_limits("default").max_backlog is None


def test_quotas_go_back_to_declared_by_kind_or_by_the_button(operator_client, broker):
    broker.declare_limits("default", Limit(max_backlog=900, tenant_backlog=90), [])
    post(operator_client, {"max_backlog": "1", "tenant_backlog": "2"})
    response = post(operator_client, {"max_backlog_mode": "declared"})
    assert "Quotas set: queue default, declared max backlog, per-tenant backlog unchanged." in (
        response.content.decode()
    )
    limits = flow.queue_limits("default")
    assert (limits.max_backlog, limits.tenant_backlog) == (900, 2)
    response = post(operator_client, {"declared": "quotas"})
    assert "Quotas set: queue default, back to declared." in response.content.decode()
    limits = flow.queue_limits("default")
    assert (limits.max_backlog, limits.tenant_backlog, limits.quotas_set) == (900, 90, {})
    assert AuditEvent.objects.count() == 3


def test_a_limit_and_a_quota_in_one_post_set_both(operator_client, broker):
    response = post(operator_client, {"concurrency": "3", "max_backlog": "10"})
    html = response.content.decode()
    assert "Limit set: queue default, rate unchanged, concurrency 3 at once" in html
    assert "Quotas set: queue default, max backlog 10, per-tenant backlog unchanged." in html
    limits = flow.queue_limits("default")
    assert (limits.own.concurrency, limits.max_backlog) == (3, 10)
    assert AuditEvent.objects.count() == 2


def test_a_plain_post_sets_a_quota_and_redirects(operator_client, broker):
    response = operator_client.post(URL, {"tenant_backlog": "7", "next": "/queues/default/"})
    assert response.status_code == 302 and response["Location"] == "/queues/default/"
    assert flow.queue_limits("default").tenant_backlog == 7


# -- refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"tenant": "acme", "task": "console.sample", "rate": "1/s"}, TASK_AND_TENANT),
        ({"tenant": "*", "task": "console.sample", "declared": "1"}, TASK_AND_TENANT),
        ({"tenant": "a b", "rate": "1/s"}, "tenant must be 1 to 100 letters, digits"),
        ({"tenant": "acmé", "rate": "1/s"}, "tenant must be 1 to 100 letters"),
        ({"tenant": "a\x00b", "rate": "1/s"}, "tenant must be 1 to 100 letters"),
        ({"tenant": "%61cme", "rate": "1/s"}, "tenant must be 1 to 100 letters"),
        ({"tenant": "**", "rate": "1/s"}, "tenant must be 1 to 100 letters"),
        ({"tenant": "-acme", "rate": "1/s"}, "tenant must be 1 to 100 letters"),
        ({"tenant": "a" * 101, "rate": "1/s"}, "tenant must be 1 to 100 letters"),
        ({"tenant": "\u202eacme", "rate": "1/s"}, "tenant must be 1 to 100 letters"),
        ({"tenant": "acme", "max_backlog": "5"}, "max_backlog is a quota of the whole queue"),
        ({"tenant": "*", "tenant_backlog": "5"}, "tenant_backlog is a quota of the whole queue"),
        ({"task": "console.sample", "max_backlog": "5"}, "max_backlog is a quota of the whole"),
        ({"max_backlog": "-5"}, "max_backlog must be a whole number from 1 to 1,000,000,000"),
        ({"max_backlog": "0"}, "max_backlog must be a whole number from 1 to 1,000,000,000"),
        ({"tenant_backlog": "1000000001"}, "tenant_backlog must be a whole number from 1"),
        ({"tenant_backlog": "1e9"}, "tenant_backlog must be a whole number from 1"),
        ({"tenant_backlog": "9" * 200}, "tenant_backlog must be a small whole number, not 20+"),
        ({"tenant": "acme", "concurrency": "-1"}, "concurrency limit must be a whole number"),
        ({"tenant": "acme", "concurrency": "1" * 200}, "concurrency must be a small whole"),
        ({"tenant": "acme", "concurrency": "x" * 200}, "concurrency must be a whole number, not"),
        ({"tenant": "acme", "rate": "1" * 500 + "/s"}, "rate must be a rate like"),
        ({"tenant": "acme", "rate": "1/s", "burst": "99999"}, "burst must be a whole number"),
        ({"max_backlog": "5", "max_backlog_mode": "none"}, "give a value or choose no quota"),
        ({"tenant_backlog_mode": "lots"}, "tenant_backlog: choose a value, no quota or"),
        ({"tenant": "acme"}, "Nothing to set: give a rate, a concurrency limit or a quota"),
        ({}, "Nothing to set"),
    ],
)
def test_bad_input_is_refused_next_to_the_form_and_changes_nothing(
    operator_client, broker, data, message
):
    response = post(operator_client, data)
    assert response.status_code == 400
    assert message in form_of(response.content.decode())
    nothing_changed()


def test_a_huge_tenant_name_is_refused_without_being_repeated(operator_client, broker):
    response = post(operator_client, {"tenant": "ä" * 100_000, "rate": "1/s"})
    error = re.search(r'id="limit-error-default"[^>]*>([^<]*)<', response.content.decode())
    assert response.status_code == 400 and len(error[1]) < 300
    nothing_changed()


def test_a_hostile_tenant_is_escaped_in_the_error_and_kept_in_the_field(operator_client, broker):
    response = post(operator_client, {"tenant": '"><script>x</script>', "rate": "1/s"})
    html = response.content.decode()
    assert "<script>x</script>" not in html
    assert 'value="&quot;&gt;&lt;script&gt;x&lt;/script&gt;"' in form_of(html)
    nothing_changed()


def test_a_plain_post_with_a_bad_tenant_gets_the_page_with_the_error(operator_client, broker):
    data = {"tenant": "a b", "concurrency": "2", "max_backlog": "9"}
    response = operator_client.post(URL, data)
    html = response.content.decode()
    assert response.status_code == 400 and "<h1>default" in html
    form = form_of(html)
    assert 'id="limit-error-default"' in form and "tenant must be 1 to 100" in form
    assert 'name="tenant" value="a b"' in form and 'name="max_backlog" value="9"' in form
    nothing_changed()


@pytest.mark.parametrize(
    "data",
    [
        {"tenant": "acme", "rate": "1/s"},
        {"tenant": "*", "declared": "1"},
        {"max_backlog": "5"},
        {"declared": "quotas"},
    ],
)
def test_a_viewer_may_not_post_tenant_limits_or_quotas(viewer_client, broker, data):
    flow.set_limit(TESTS, "default", tenant="*", concurrency=3)
    html = viewer_client.get(PAGE).content.decode()
    assert 'data-scope="tenant:*"' in html and "limit-form" not in html
    assert "Back to declared" not in html
    assert post(viewer_client, data).status_code == 403
    assert tenant("*").concurrency == 3 and "acme" not in flow.queue_limits("default").tenants
    assert flow.queue_limits("default").quotas_set == {}


@pytest.mark.parametrize("data", [{"tenant": "acme", "rate": "1/s"}, {"max_backlog": "5"}])
def test_a_post_without_a_csrf_token_is_refused(operator, broker, data):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    response = client.post(URL, data, **HTMX)
    assert response.status_code == 403 and b"CSRF" in response.content
    nothing_changed()


def test_a_get_is_not_allowed(operator_client, broker):
    assert operator_client.get(URL, {"tenant": "acme", "rate": "1/s"}).status_code == 405
    nothing_changed()


def test_the_form_s_tenant_quota_is_the_one_the_next_enqueue_applies(operator_client, broker):
    post(operator_client, {"tenant_backlog": "1"})
    sample.using(tenant="acme").enqueue(1)
    with pytest.raises(QuotaExceeded, match="acme"):
        sample.using(tenant="acme").enqueue(2)
    sample.using(tenant="tiny").enqueue(3)  # another tenant has its own backlog
