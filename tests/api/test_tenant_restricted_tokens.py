"""API tokens limited to tenants (`createapitoken --tenant acme`): they enqueue for
their tenant, and a task of another tenant (or of none) reads as missing (the same 404
as for one that does not exist); listings leave it out, and no action reaches it.
`?tenant=` filters the task and dead-letter listings for any caller."""

import io

import pytest
from django.core.management import CommandError, call_command

from api.models import ApiToken
from api.openapi import document
from api.tokens import create_token
from taskqueue import inspect
from taskqueue.audit import Actor
from taskqueue.models import AuditEvent
from tests.support.records import make_dead
from tests.support.tasks import echo
from tests.support.web import ALL_SCOPES, Api, error_of, logged_in

pytestmark = pytest.mark.django_db

ECHO = "tests.api.echo"


def for_tenants(user, *tenants: str, queues=()) -> Api:
    actor = Actor("tests", "system")
    return Api(create_token(actor, user, "tenant", ALL_SCOPES, queues, tenants)[1])


@pytest.fixture
def acme(operator) -> Api:
    return for_tenants(operator, "acme")


@pytest.fixture
def tasks(broker) -> dict[str, str]:
    """A pending task of acme, of globex and of no tenant, all in the default queue."""
    return {
        "acme": echo.using(tenant="acme").enqueue(1).id,
        "globex": echo.using(tenant="globex").enqueue(2).id,
        "none": echo.enqueue(3).id,
    }


@pytest.fixture
def dead(broker) -> dict[str, str]:
    """A dead letter of acme, of globex and of no tenant, in the emails queue."""
    emails = echo.using(queue="emails")
    return {
        "acme": make_dead(broker, emails.using(tenant="acme").enqueue(1), "KeyError"),
        "globex": make_dead(broker, emails.using(tenant="globex").enqueue(2)),
        "none": make_dead(broker, emails.enqueue(3)),
    }


def listed(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [t["id"] for t in response.json()["items"]]


# -- creating one -------------------------------------------------------------------


def test_createapitoken_stores_a_tenant_given_once(operator):
    err = io.StringIO()
    call_command("createapitoken", "--user", "olga", "--tenant", "acme",
                 stdout=io.StringIO(), stderr=err)  # fmt: skip
    assert ApiToken.objects.get().tenants == ["acme"]
    assert "for the tasks of the tenants acme only" in err.getvalue()


def test_createapitoken_takes_several_tenants_repeated_or_comma_separated(operator):
    call_command("createapitoken", "--user", "olga", "--tenant", "acme, globex",
                 "--tenant", "initech", "--tenant", "acme",
                 stdout=io.StringIO(), stderr=io.StringIO())  # fmt: skip
    assert ApiToken.objects.get().tenants == ["acme", "globex", "initech"]


def test_a_token_without_tenants_may_touch_anyones_tasks(operator):
    call_command("createapitoken", "--user", "olga", stdout=io.StringIO(), stderr=io.StringIO())
    assert ApiToken.objects.get().tenants == []


def test_createapitoken_refuses_a_bad_tenant_name(operator):
    with pytest.raises(CommandError, match="tenants must be"):
        call_command("createapitoken", "--user", "olga", "--tenant", "a b",
                     stdout=io.StringIO(), stderr=io.StringIO())  # fmt: skip
    assert not ApiToken.objects.exists()


def test_creating_a_token_audits_its_tenants(operator):
    for_tenants(operator, "acme")
    assert AuditEvent.objects.get(action="token_created").detail["tenants"] == ["acme"]


def test_the_admin_creates_and_shows_a_token_limited_to_tenants(operator):
    admin = logged_in(type(operator).objects.create_superuser("root", password=None))
    response = admin.post(
        "/admin/api/apitoken/add/",
        {"user": operator.pk, "name": "acme", "scopes": ["read"], "tenants": "acme, globex"},
    )
    assert response.status_code == 200, response.content[:500]
    token = ApiToken.objects.get(name="acme")
    assert token.tenants == ["acme", "globex"]
    assert "acme, globex" in admin.get("/admin/api/apitoken/").content.decode()
    assert "acme, globex" in admin.get(f"/admin/api/apitoken/{token.pk}/change/").content.decode()


# -- enqueueing ---------------------------------------------------------------------------


def test_a_body_without_a_tenant_is_enqueued_for_the_tokens_tenant(acme, broker):
    created = acme.post("tasks", {"task": ECHO, "args": [1]})
    assert created.status_code == 201, created.content
    assert inspect.get_task(created.json()["id"]).tenant == "acme"


def test_a_body_naming_its_own_tenant_is_enqueued(acme, broker):
    created = acme.post("tasks", {"task": ECHO, "tenant": "acme"})
    assert created.status_code == 201
    assert created.json()["tenant"] == "acme"


def test_enqueueing_for_another_tenant_is_a_422_naming_the_field(acme, broker):
    refused = acme.post("tasks", {"task": ECHO, "tenant": "globex"})
    assert refused.status_code == 422
    assert error_of(refused)["fields"] == {
        "tenant": "This token may only enqueue for the tenant acme."
    }
    assert broker.counts("default").pending == 0


def test_a_token_of_several_tenants_names_one_to_enqueue(operator, broker):
    several = for_tenants(operator, "acme", "globex")
    refused = several.post("tasks", {"task": ECHO})
    assert refused.status_code == 422
    assert "tenant" in error_of(refused)["fields"]
    assert several.post("tasks", {"task": ECHO, "tenant": "globex"}).status_code == 201


def test_a_dependency_of_another_tenant_reads_as_a_missing_task(acme, tasks):
    response = acme.post("tasks", {"task": ECHO, "depends_on": [tasks["globex"]]})
    assert response.status_code == 422
    assert "depends_on names no task" in error_of(response)["message"]


# -- one task outside ---------------------------------------------------------------------


@pytest.mark.parametrize("whose", ["globex", "none"])
@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "tasks/{}"), ("post", "tasks/{}/cancel"), ("post", "tasks/{}/retry"),
     ("delete", "tasks/{}")],
)  # fmt: skip
def test_a_task_of_another_tenant_or_of_none_is_a_404_like_a_missing_one(
    acme, tasks, method, path, whose
):
    response = getattr(acme, method)(path.format(tasks[whose]))
    missing = getattr(acme, method)(path.format("never-was"))
    assert response.status_code == missing.status_code == 404
    assert error_of(response)["message"] == error_of(missing)["message"].replace(
        "never-was", tasks[whose]
    )
    assert inspect.get_task(tasks[whose]).status == "pending"  # untouched


def test_its_own_tenants_task_can_be_read_and_cancelled(acme, tasks):
    assert acme.get(f"tasks/{tasks['acme']}").json()["tenant"] == "acme"
    assert acme.post(f"tasks/{tasks['acme']}/cancel").json()["outcome"] == "cancelled"


def test_retry_and_delete_of_another_tenants_dead_task_are_404s(acme, dead):
    assert acme.post(f"tasks/{dead['globex']}/retry").status_code == 404
    assert acme.delete(f"tasks/{dead['globex']}").status_code == 404
    assert inspect.get_task(dead["globex"]).status == "dead"


def test_a_token_limited_to_queues_and_tenants_needs_both(operator, tasks):
    elsewhere = for_tenants(operator, "acme", queues=["emails"])
    assert elsewhere.get(f"tasks/{tasks['acme']}").status_code == 404


# -- listings ---------------------------------------------------------------------------


def test_the_task_list_shows_only_its_tenants_tasks(acme, tasks):
    assert listed(acme.get("tasks")) == [tasks["acme"]]


def test_naming_another_tenant_in_a_listing_finds_nothing(acme, tasks, dead):
    assert listed(acme.get("tasks", tenant="globex")) == []
    body = acme.get("dlq", tenant="globex").json()
    assert (body["items"], body["groups"]) == ([], {})


def test_searching_for_another_tenants_task_by_id_finds_nothing(acme, tasks):
    assert listed(acme.get("tasks", q=tasks["globex"])) == []
    assert listed(acme.get("tasks", q=tasks["acme"])) == [tasks["acme"]]


def test_a_token_of_several_tenants_names_one_to_list(operator, tasks):
    several = for_tenants(operator, "acme", "globex")
    response = several.get("tasks")
    assert response.status_code == 422
    assert error_of(response)["fields"] == {"tenant": error_of(response)["message"]}
    assert listed(several.get("tasks", tenant="globex")) == [tasks["globex"]]


def test_the_dlq_lists_only_its_tenants_dead_letters_without_counts(acme, dead):
    body = acme.get("dlq").json()
    assert [t["id"] for t in body["items"]] == [dead["acme"]]
    assert body["groups"] == {}  # the counts span every tenant


def test_the_tenant_filter_lists_one_tenants_tasks_for_anyone(api, tasks, dead):
    assert listed(api.get("tasks", tenant="globex", status="pending")) == [tasks["globex"]]
    assert listed(api.get("dlq", tenant="acme")) == [dead["acme"]]
    assert len(listed(api.get("tasks"))) == 6


def test_a_malformed_tenant_filter_is_a_422_naming_it(api, broker):
    for path in ("tasks", "dlq"):
        response = api.get(path, tenant="a b")
        assert response.status_code == 422
        assert "tenant" in error_of(response)["fields"]


def test_queue_summaries_stay_visible_as_aggregates(acme, tasks):
    queues = {q["name"]: q for q in acme.get("queues").json()["items"]}
    assert queues["default"]["counts"]["pending"] == 3
    assert acme.get("queues/default").status_code == 200


# -- bulk actions -----------------------------------------------------------------------


def test_dlq_actions_by_ids_leave_other_tenants_dead_letters_alone(acme, dead):
    ids = [dead["globex"], dead["none"], dead["acme"]]
    assert acme.post("dlq/requeue", {"ids": ids}).json()["count"] == 1
    assert inspect.get_task(dead["acme"]).status == "pending"
    assert acme.post("dlq/purge", {"ids": ids}).json()["count"] == 0
    assert {inspect.get_task(dead[w]).status for w in ("globex", "none")} == {"dead"}


def test_dlq_purge_by_filter_touches_only_its_tenants_dead_letters(acme, dead):
    assert acme.post("dlq/purge", {"filter": {}, "dry_run": True}).json()["count"] == 1
    assert acme.post("dlq/purge", {"filter": {"queue": "emails"}}).json()["count"] == 1
    assert acme.get(f"tasks/{dead['acme']}").status_code == 404  # purged
    assert {inspect.get_task(dead[w]).status for w in ("globex", "none")} == {"dead"}


def test_dlq_requeue_by_filter_touches_only_its_tenants_dead_letters(acme, dead):
    body = {"filter": {"exception": "ValueError"}}
    assert acme.post("dlq/requeue", body).json()["count"] == 0  # acme's died of KeyError
    assert acme.post("dlq/requeue", {"filter": {}}).json()["count"] == 1
    assert inspect.get_task(dead["acme"]).status == "pending"
    assert {inspect.get_task(dead[w]).status for w in ("globex", "none")} == {"dead"}


# -- what spans tenants -------------------------------------------------------------------


def test_workflows_are_404s_for_a_token_limited_to_tenants(acme, api, broker):
    body = {"nodes": [{"key": "a", "task": ECHO, "args": [1]}]}
    workflow_id = api.post("workflows", body).json()["id"]
    assert acme.post("workflows", body).status_code == 404
    assert acme.get("workflows").status_code == 404
    assert acme.get(f"workflows/{workflow_id}").status_code == 404
    assert acme.post(f"workflows/{workflow_id}/cancel").status_code == 404
    assert api.get(f"workflows/{workflow_id}").json()["status"] != "cancelled"


@pytest.mark.parametrize("action", ["pause", "resume", "purge"])
def test_queue_actions_are_404s_like_a_queue_not_in_use(acme, tasks, action):
    response = acme.post(f"queues/default/{action}")
    missing = acme.post(f"queues/nowhere/{action}")
    assert response.status_code == missing.status_code == 404
    assert error_of(response)["message"] == error_of(missing)["message"].replace(
        "nowhere", "default"
    )
    counts = inspect.queue_counts("default")
    assert (counts.pending, counts.paused) == (3, False)


def test_the_openapi_document_names_the_tenant_restrictions():
    paths = document()["paths"]
    assert "404" in paths["/tasks/{task_id}"]["get"]["x-tenant-restrictions"]
    assert "422" in paths["/tasks"]["post"]["x-tenant-restrictions"]
    assert "404" in paths["/queues/{name}/pause"]["post"]["x-tenant-restrictions"]
    names = {p["name"] for p in paths["/dlq"]["get"]["parameters"]}
    assert {"tenant", "queue", "name", "exception"} <= names
