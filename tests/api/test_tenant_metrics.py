"""The tenants' series of /api/v1/metrics: taskqueue_tenants{queue} (how many tenants
have unfinished tasks) and taskqueue_tenant_backlog{queue,tenant} for the 20 largest
backlogs of each queue only (label cardinality), one read of the tenants per queue."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from api import metrics
from api.tokens import create_token
from taskqueue import flow
from taskqueue.audit import Actor
from tests.factories import make_task
from tests.support.tasks import mail
from tests.support.web import Api

pytestmark = pytest.mark.django_db


def samples(response) -> dict[tuple, float]:
    assert response.status_code == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.content.decode())
        for s in family.samples
    }


def backlogs(got: dict, queue: str = "default") -> dict[str, float]:
    return {
        dict(labels)["tenant"]: value
        for (name, labels), value in got.items()
        if name == "taskqueue_tenant_backlog" and dict(labels)["queue"] == queue
    }


def enqueue(broker, *tenants: str, queue: str = "default") -> None:
    broker.enqueue([make_task(queue, tenant=tenant) for tenant in tenants])


def test_each_tenant_s_backlog_and_the_count_of_tenants_per_queue(reader, broker):
    enqueue(broker, "acme", "acme", "tiny", "")
    mail.enqueue("a@example.com")  # emails: in use, no tenant
    got = samples(reader.get("metrics"))
    assert backlogs(got) == {"acme": 2, "tiny": 1}
    assert got[("taskqueue_tenants", (("queue", "default"),))] == 2
    assert got[("taskqueue_tenants", (("queue", "emails"),))] == 0
    assert backlogs(got, "emails") == {}


def test_only_the_20_largest_backlogs_of_a_queue_are_series(reader, broker):
    enqueue(broker, *(f"t{i:02}" for i in range(30)), "big", "big", "big")
    got = samples(reader.get("metrics"))
    series = backlogs(got)
    assert len(series) == metrics.TOP_TENANTS == 20
    assert series["big"] == 3
    assert got[("taskqueue_tenants", (("queue", "default"),))] == 31


def test_a_scrape_reads_the_tenants_once_per_queue(reader, broker, monkeypatch):
    enqueue(broker, "acme")
    mail.enqueue("a@example.com")
    reads = []
    real = flow.tenant_backlogs
    monkeypatch.setattr(flow, "tenant_backlogs", lambda q, top=20: reads.append(q) or real(q, top))
    samples(reader.get("metrics"))
    assert sorted(reads) == ["default", "emails"]


def test_a_token_limited_to_queues_gets_its_queues_tenants_only(operator, broker):
    enqueue(broker, "acme")
    enqueue(broker, "mailco", queue="emails")
    secret = create_token(Actor("tests", "system"), operator, "mailer", ("read",), ["emails"])[1]
    got = samples(Api(secret).get("metrics"))
    assert backlogs(got, "emails") == {"mailco": 1}
    assert backlogs(got) == {}
    assert ("taskqueue_tenants", (("queue", "default"),)) not in got


def test_a_token_limited_to_tenants_gets_its_own_tenants_backlog_only(operator, broker):
    enqueue(broker, "acme", "other", "other")
    secret = create_token(Actor("tests", "system"), operator, "acme", ("read",), tenants=["acme"])[
        1
    ]
    got = samples(Api(secret).get("metrics"))
    assert backlogs(got) == {"acme": 1}
    assert got[("taskqueue_tenants", (("queue", "default"),))] == 2


def test_the_series_are_documented_with_their_cap(reader):
    text = reader.get("metrics").content.decode()
    assert "# HELP taskqueue_tenants Tenants with unfinished tasks in the queue." in text
    assert "the queue's 20 largest tenants only" in text
