"""Tenants over the API: the `tenant` field of POST /tasks, and the 429 of a backlog
quota (docs/flow-control.md#quotas)."""

import pytest

from taskqueue.limits import Limit
from tests.support.web import error_of

pytestmark = pytest.mark.django_db

ECHO = "tests.api.echo"


def test_a_task_enqueued_with_a_tenant_says_whose_it_is(api):
    created = api.post("tasks", {"task": ECHO, "args": [1], "tenant": "acme"})
    assert created.status_code == 201, created.content
    assert created.json()["tenant"] == "acme"
    assert api.get(f"tasks/{created.json()['id']}").json()["tenant"] == "acme"


@pytest.mark.parametrize("tenant", ["", "-x", "a b", "a/b", "acme\n", "x" * 101, 7, True, ["acme"]])
def test_a_malformed_tenant_is_refused_naming_the_field(api, broker, tenant):
    refused = api.post("tasks", {"task": ECHO, "tenant": tenant})
    assert refused.status_code == 422
    assert "tenant" in error_of(refused)["fields"]
    assert broker.counts("default").pending == 0


def test_a_tenant_over_its_quota_gets_429_with_retry_after_and_nothing_is_written(api, broker):
    broker.declare_limits("default", Limit(tenant_backlog=2), [])
    for _ in range(2):
        assert api.post("tasks", {"task": ECHO, "tenant": "acme"}).status_code == 201
    refused = api.post("tasks", {"task": ECHO, "tenant": "acme"})
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "5"
    assert error_of(refused)["code"] == "quota_exceeded"
    assert "tenant 'acme'" in error_of(refused)["message"]
    assert broker.counts("default").pending == 2
    assert api.post("tasks", {"task": ECHO, "tenant": "other"}).status_code == 201
