"""The queue's quotas in GET, PUT and DELETE /api/v1/queues/{name}/limits, and GET
/api/v1/queues/{name}/tenants (docs/api.md#limits, #tenants). Quotas are declared as a
worker declares them (broker.declare_limits) and set through taskqueue.flow.set_quota
(audited as set_limit); tenants' backlogs come from tasks enqueued with a tenant. The
429 of a quota is tested in test_tenants_api.py."""

import json

import pytest

from api.tokens import create_token
from taskqueue.audit import Actor
from taskqueue.limits import Limit
from taskqueue.models import AuditEvent
from tests.factories import make_task
from tests.support.tasks import echo, mail
from tests.support.web import ALL_SCOPES, Api, error_of

pytestmark = pytest.mark.django_db

ECHO = "tests.api.echo"
LIMITS = "/api/v1/queues/{}/limits"
NO_QUOTAS = {"max_backlog": None, "tenant_backlog": None}


def put(api: Api, body, queue: str = "default"):
    return api.client.put(LIMITS.format(queue), json.dumps(body), content_type="application/json")


def delete(api: Api, queue: str = "default", **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return api.client.delete(LIMITS.format(queue) + (f"?{query}" if query else ""))


def quotas(api: Api, queue: str = "default") -> dict:
    return api.get(f"queues/{queue}/limits").json()["quotas"]


def quota_events():
    return AuditEvent.objects.filter(
        action=AuditEvent.Action.SET_LIMIT, detail__has_key="max_backlog"
    )


def enqueue(broker, *tenants: str, queue: str = "default") -> None:
    broker.enqueue([make_task(queue, tenant=tenant) for tenant in tenants])


# -- quotas in the limits endpoint -------------------------------------------------------


def test_a_queue_without_quotas_reads_null_quotas(api):
    assert quotas(api) == NO_QUOTAS


def test_declared_quotas_read_as_in_force(api, broker):
    broker.declare_limits("default", Limit(max_backlog=500, tenant_backlog=50), [])
    assert quotas(api) == {"max_backlog": 500, "tenant_backlog": 50}


def test_put_sets_quotas_that_win_over_the_declared_ones_and_answers_them(api, broker):
    broker.declare_limits("default", Limit(max_backlog=500, tenant_backlog=50), [])
    response = put(api, {"max_backlog": 100, "tenant_backlog": 10})
    assert response.status_code == 200, response.content
    assert response.json()["quotas"] == {"max_backlog": 100, "tenant_backlog": 10}
    assert quotas(api) == {"max_backlog": 100, "tenant_backlog": 10}


def test_null_lifts_a_quota_and_an_absent_one_goes_back_to_declared(api, broker):
    broker.declare_limits("default", Limit(max_backlog=500, tenant_backlog=50), [])
    put(api, {"max_backlog": 100, "tenant_backlog": 10})
    put(api, {"tenant_backlog": None})
    assert quotas(api) == {"max_backlog": 500, "tenant_backlog": None}


def test_a_body_without_quotas_leaves_them_as_they_are(api):
    put(api, {"max_backlog": 100})
    put(api, {"concurrency": 3})
    assert quotas(api) == {"max_backlog": 100, "tenant_backlog": None}
    assert api.get("queues/default/limits").json()["limits"]["queue"]["concurrency"] == 3


def test_a_body_of_quotas_only_leaves_the_rate_and_concurrency_as_they_are(api):
    put(api, {"concurrency": 3})
    response = put(api, {"max_backlog": 100})
    assert response.json()["limits"]["concurrency"] == 3
    assert response.json()["released"] == 0


def test_a_quota_set_over_the_api_refuses_the_next_enqueue(api):
    put(api, {"tenant_backlog": 1})
    assert api.post("tasks", {"task": ECHO, "tenant": "acme"}).status_code == 201
    refused = api.post("tasks", {"task": ECHO, "tenant": "acme"})
    assert refused.status_code == 429 and error_of(refused)["code"] == "quota_exceeded"


def test_a_quota_change_is_audited_with_the_values(api):
    put(api, {"max_backlog": 100, "tenant_backlog": None})
    event = quota_events().get()
    assert (event.queue, event.actor, event.source) == ("default", "olga/ci", "api")
    assert event.detail == {"max_backlog": 100, "tenant_backlog": None}


def test_delete_without_a_task_puts_the_quotas_back_to_declared(api, broker):
    broker.declare_limits("default", Limit(max_backlog=500), [])
    put(api, {"max_backlog": 100, "tenant_backlog": 10})
    response = delete(api)
    assert response.json()["quotas"] == {"max_backlog": 500, "tenant_backlog": None}
    assert quota_events().latest("id").detail == {
        "max_backlog": "declared", "tenant_backlog": "declared",
    }  # fmt: skip


def test_delete_of_a_task_s_limits_leaves_the_quotas(api):
    put(api, {"max_backlog": 100})
    response = delete(api, task=ECHO)
    assert "quotas" not in response.json()
    assert quotas(api)["max_backlog"] == 100


def test_quotas_with_a_task_are_a_422_and_nothing_changes(api):
    refused = put(api, {"task": ECHO, "tenant_backlog": 5, "concurrency": 2})
    assert refused.status_code == 422
    assert "tenant_backlog" in error_of(refused)["fields"]
    assert quotas(api) == NO_QUOTAS
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.SET_LIMIT).exists()


@pytest.mark.parametrize("value", [0, -1, 1_000_000_001, "5", 2.5, True, [5], 10**30])
@pytest.mark.parametrize("field", ["max_backlog", "tenant_backlog"])
def test_a_bad_quota_is_a_422_naming_it_and_nothing_changes(api, field, value):
    refused = put(api, {field: value, "concurrency": 2})
    assert refused.status_code == 422
    assert field in error_of(refused)["fields"]
    assert quotas(api) == NO_QUOTAS
    assert api.get("queues/default/limits").json()["limits"]["queue"] is None


def test_a_read_token_cannot_set_quotas(reader):
    refused = put(reader, {"max_backlog": 5})
    assert refused.status_code == 403 and error_of(refused)["code"] == "forbidden"
    assert quotas(reader) == NO_QUOTAS


# -- GET /queues/{name}/tenants ----------------------------------------------------------


def test_tenants_are_listed_largest_backlog_first_with_the_quota(reader, broker):
    broker.declare_limits("default", Limit(tenant_backlog=50), [])
    enqueue(broker, "acme", "acme", "acme", "tiny", "mid", "mid", "")
    response = reader.get("queues/default/tenants")
    assert response.status_code == 200
    assert response.json() == {
        "queue": "default", "tenants": 3, "tenant_backlog": 50,
        "top": [{"tenant": "acme", "backlog": 3}, {"tenant": "mid", "backlog": 2},
                {"tenant": "tiny", "backlog": 1}],
    }  # fmt: skip


def test_a_queue_without_tenants_lists_none(reader):
    echo.enqueue(1)
    assert reader.get("queues/default/tenants").json() == {
        "queue": "default", "tenants": 0, "top": [], "tenant_backlog": None,
    }  # fmt: skip


def test_only_the_20_largest_are_listed_and_every_tenant_is_counted(reader, broker):
    enqueue(broker, *(f"t{i:02}" for i in range(25)), *["big"] * 3)
    body = reader.get("queues/default/tenants").json()
    assert body["tenants"] == 26
    assert len(body["top"]) == 20
    assert body["top"][0] == {"tenant": "big", "backlog": 3}


def test_a_finished_task_leaves_its_tenant_s_backlog(reader, broker):
    task = echo.using(tenant="acme").enqueue(1)
    echo.using(tenant="acme").enqueue(2)
    claimed = broker.claim("default", "w1", 1)
    assert [c.id for c in claimed] == [task.id]
    broker.complete("default", [(task.id, claimed[0].attempt, "null")])
    assert reader.get("queues/default/tenants").json()["top"] == [{"tenant": "acme", "backlog": 1}]


def test_tenants_need_credentials():
    assert Api().get("queues/default/tenants").status_code == 401


def test_tenants_need_the_read_scope(operator):
    secret = create_token(Actor("tests", "system"), operator, "writer", ["enqueue"])[1]
    refused = Api(secret).get("queues/default/tenants")
    assert refused.status_code == 403 and error_of(refused)["code"] == "forbidden"


def test_an_unknown_queue_is_404_and_a_bad_name_422(reader):
    assert error_of(reader.get("queues/typo/tenants"))["code"] == "not_found"
    assert reader.get("queues/Bad Name!/tenants").status_code == 422


def test_a_token_limited_to_queues_meets_another_queue_as_missing(operator, broker):
    mail.enqueue("a@example.com")
    enqueue(broker, "acme")
    secret = create_token(Actor("tests", "system"), operator, "mailer", ALL_SCOPES, ["emails"])[1]
    limited = Api(secret)
    missing = limited.get("queues/default/tenants")
    assert missing.status_code == 404
    assert error_of(missing)["message"] == "No queue named 'default' is configured or in use."
    assert limited.get("queues/emails/tenants").status_code == 200


def test_a_token_limited_to_tenants_finds_only_its_own_in_the_list(operator, broker):
    enqueue(broker, "acme", "acme", "other")
    secret = create_token(Actor("tests", "system"), operator, "acme", ("read",), tenants=["acme"])[
        1
    ]
    body = Api(secret).get("queues/default/tenants").json()
    assert body["tenants"] == 2
    assert body["top"] == [{"tenant": "acme", "backlog": 2}]
