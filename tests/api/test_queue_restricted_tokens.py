"""API tokens limited to queues (`createapitoken --queues emails`): inside their queues
they work as any token; outside, a task, a queue or a dead letter reads as missing
(the same 404 as for one that does not exist), listings leave it out, and no action
reaches it."""

import io

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from api.models import ApiToken
from api.tokens import create_token
from taskqueue import inspect
from taskqueue.audit import Actor
from taskqueue.models import AuditEvent
from tests.support.records import make_dead, register_worker
from tests.support.tasks import echo, mail
from tests.support.web import ALL_SCOPES, Api, error_of, logged_in

pytestmark = pytest.mark.django_db


def limited_to(user, *queues: str) -> Api:
    secret = create_token(Actor("tests", "system"), user, "limited", ALL_SCOPES, queues)[1]
    return Api(secret)


@pytest.fixture
def emails_only(operator) -> Api:
    return limited_to(operator, "emails")


@pytest.fixture
def tasks(broker) -> dict[str, str]:
    """A pending task in each of default and emails (both queues are in use)."""
    return {"default": echo.enqueue(1).id, "emails": mail.enqueue("a@example.com").id}


@pytest.fixture
def dead(broker) -> dict[str, str]:
    """A dead letter in each of default and emails."""
    return {
        "default": make_dead(broker, echo.enqueue(1)),
        "emails": make_dead(broker, mail.enqueue("x"), "KeyError"),
    }


# -- creating one -------------------------------------------------------------------


def test_createapitoken_stores_the_queues_it_is_given(operator):
    err = io.StringIO()
    call_command(
        "createapitoken", "--user", "olga", "--scopes", "read", "--queues", "emails, reports",
        stdout=io.StringIO(), stderr=err,
    )  # fmt: skip
    assert ApiToken.objects.get().queues == ["emails", "reports"]
    assert "limited to the queues emails, reports" in err.getvalue()


def test_a_token_without_queues_may_touch_every_queue(operator):
    call_command("createapitoken", "--user", "olga", stdout=io.StringIO(), stderr=io.StringIO())
    assert ApiToken.objects.get().queues == []


def test_createapitoken_refuses_a_bad_queue_name(operator):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="not allowed"):
        call_command("createapitoken", "--user", "olga", "--queues", "Bad Name",
                     stdout=io.StringIO(), stderr=io.StringIO())  # fmt: skip


def test_the_admin_shows_a_tokens_queues(operator, emails_only):
    admin = logged_in(type(operator).objects.create_superuser("root", password=None))
    token = ApiToken.objects.get(name="limited")
    page = admin.get(f"/admin/api/apitoken/{token.pk}/change/").content.decode()
    assert "emails" in page
    listing = admin.get("/admin/api/apitoken/").content.decode()
    assert "emails" in listing


def test_the_admin_creates_a_token_limited_to_queues(operator):
    admin = logged_in(type(operator).objects.create_superuser("root", password=None))
    response = admin.post(
        "/admin/api/apitoken/add/",
        {"user": operator.pk, "name": "mailer", "scopes": ["read"], "queues": "emails"},
    )
    assert response.status_code == 200, response.content[:500]
    assert ApiToken.objects.get(name="mailer").queues == ["emails"]


# -- inside its queues ------------------------------------------------------------------


def test_it_enqueues_into_and_reads_its_own_queue(emails_only, broker):
    created = emails_only.post("tasks", {"task": "tests.api.mail", "args": ["a@example.com"]})
    assert created.status_code == 201
    task_id = created.json()["id"]
    assert emails_only.get(f"tasks/{task_id}").json()["queue"] == "emails"
    assert emails_only.post(f"tasks/{task_id}/cancel").json()["outcome"] == "cancelled"


def test_it_lists_its_own_queues_tasks_without_naming_the_queue(emails_only, tasks):
    listed = emails_only.get("tasks").json()
    assert [t["id"] for t in listed["items"]] == [tasks["emails"]]


# -- a single thing outside -----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "tasks/{}"), ("post", "tasks/{}/cancel"), ("post", "tasks/{}/retry"),
     ("delete", "tasks/{}")],
)  # fmt: skip
def test_a_task_of_another_queue_is_a_404_like_a_missing_one(emails_only, tasks, method, path):
    response = getattr(emails_only, method)(path.format(tasks["default"]))
    missing = getattr(emails_only, method)(path.format("never-was"))
    assert response.status_code == missing.status_code == 404
    assert error_of(response)["message"] == error_of(missing)["message"].replace(
        "never-was", tasks["default"]
    )
    assert inspect.get_task(tasks["default"]).status == "pending"  # untouched


def test_retry_and_delete_of_another_queues_dead_task_are_404s(emails_only, dead):
    assert emails_only.post(f"tasks/{dead['default']}/retry").status_code == 404
    assert emails_only.delete(f"tasks/{dead['default']}").status_code == 404
    assert inspect.get_task(dead["default"]).status == "dead"


def test_enqueueing_into_another_queue_is_a_404_for_the_queue(emails_only, broker):
    named = emails_only.post("tasks", {"task": "tests.api.mail", "args": ["x"], "queue": "default"})
    declared = emails_only.post("tasks", {"task": "tests.api.echo"})  # its queue: default
    for response in (named, declared):
        assert response.status_code == 404
        assert error_of(response)["message"] == (
            "No queue named 'default' is configured or in use."
        )
    assert inspect.queue_counts("default").pending == 0


def test_a_dependency_in_another_queue_reads_as_a_missing_task(emails_only, tasks):
    body = {"task": "tests.api.mail", "args": ["x"], "depends_on": [tasks["default"]]}
    response = emails_only.post("tasks", body)
    assert response.status_code == 422
    assert "depends_on names no task" in error_of(response)["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "queues/{}"), ("post", "queues/{}/pause"), ("post", "queues/{}/resume"),
     ("post", "queues/{}/purge")],
)  # fmt: skip
def test_another_queue_is_a_404_like_a_queue_not_in_use(emails_only, tasks, method, path):
    response = getattr(emails_only, method)(path.format("default"))
    missing = getattr(emails_only, method)(path.format("nowhere"))
    assert response.status_code == missing.status_code == 404
    assert error_of(response)["message"] == error_of(missing)["message"].replace(
        "nowhere", "default"
    )
    assert inspect.queue_counts("default").pending == 1
    assert not inspect.queue_counts("default").paused


def test_its_own_queue_can_be_paused(emails_only, tasks):
    assert emails_only.post("queues/emails/pause").json()["paused"] is True


# -- listings ---------------------------------------------------------------------------


def test_the_queue_list_shows_only_its_queues(emails_only, tasks):
    assert [q["name"] for q in emails_only.get("queues").json()["items"]] == ["emails"]


def test_naming_another_queue_in_a_listing_finds_nothing(emails_only, dead):
    assert emails_only.get("tasks", queue="default").json()["items"] == []
    body = emails_only.get("dlq", queue="default").json()
    assert (body["items"], body["groups"]) == ([], {})


def test_searching_for_another_queues_task_by_id_finds_nothing(emails_only, tasks):
    assert emails_only.get("tasks", q=tasks["default"]).json()["items"] == []


def test_a_token_of_several_queues_names_one_to_list(operator, tasks):
    several = limited_to(operator, "emails", "reports")
    response = several.get("tasks")
    assert response.status_code == 422
    assert error_of(response)["fields"] == {"queue": error_of(response)["message"]}
    assert [t["id"] for t in several.get("tasks", queue="emails").json()["items"]] == [
        tasks["emails"]
    ]


def test_the_dlq_lists_and_counts_only_its_queues_dead_letters(emails_only, dead):
    body = emails_only.get("dlq").json()
    assert [t["id"] for t in body["items"]] == [dead["emails"]]
    assert body["groups"] == {"KeyError": 1}


def test_workers_show_only_its_queues(emails_only, broker):
    register_worker(broker, "w-both", queues="default,emails")
    register_worker(broker, "w-default", queues="default")
    items = emails_only.get("workers").json()["items"]
    assert [(w["id"], w["queues"]) for w in items] == [("w-both", ["emails"])]


def test_metrics_show_only_its_queues(emails_only, tasks):
    text = emails_only.get("metrics").content.decode()
    assert 'queue="emails"' in text
    assert 'queue="default"' not in text


# -- bulk actions -----------------------------------------------------------------------


def test_dlq_actions_by_ids_leave_other_queues_dead_letters_alone(emails_only, dead):
    ids = [dead["default"], dead["emails"]]
    assert emails_only.post("dlq/requeue", {"ids": ids}).json()["count"] == 1
    assert inspect.get_task(dead["default"]).status == "dead"
    assert inspect.get_task(dead["emails"]).status == "pending"
    assert emails_only.post("dlq/purge", {"ids": [dead["default"]]}).json()["count"] == 0
    assert inspect.get_task(dead["default"]).status == "dead"


def test_dlq_actions_by_filter_touch_only_its_queues(emails_only, dead):
    assert emails_only.post("dlq/purge", {"filter": {}}).json()["count"] == 1
    assert inspect.get_task(dead["default"]).status == "dead"
    assert emails_only.post("dlq/purge", {"filter": {"queue": "default"}}).json()["count"] == 0
    assert inspect.get_task(dead["default"]).status == "dead"
    assert AuditEvent.objects.get(action="purge_dead").queue == "emails"


def test_dlq_requeue_into_another_queue_is_a_404(emails_only, dead):
    response = emails_only.post("dlq/requeue", {"ids": [dead["emails"]], "to_queue": "default"})
    assert response.status_code == 404
    assert inspect.get_task(dead["emails"]).status == "dead"


# -- workflows --------------------------------------------------------------------------


def test_workflows_are_404s_for_a_limited_token(emails_only, api, broker):
    body = {"nodes": [{"key": "a", "task": "tests.api.mail", "args": ["x"]}]}
    workflow_id = api.post("workflows", body).json()["id"]  # all its tasks in emails
    missing = emails_only.get("workflows/never-was")
    assert emails_only.get(f"workflows/{workflow_id}").status_code == 404
    assert error_of(emails_only.get(f"workflows/{workflow_id}"))["message"] == error_of(missing)[
        "message"
    ].replace("never-was", workflow_id)
    assert emails_only.post(f"workflows/{workflow_id}/cancel").status_code == 404
    assert emails_only.get("workflows").status_code == 404
    assert emails_only.post("workflows", body).status_code == 404
    assert api.get(f"workflows/{workflow_id}").json()["status"] != "cancelled"


# -- who else is limited -------------------------------------------------------------


def test_a_token_never_reaches_past_its_users_queue_groups(operator, tasks, monkeypatch):
    from dashboard import access

    monkeypatch.setattr(access, "queue_access", lambda: {"mailers": ["emails"]})
    operator.groups.add(Group.objects.create(name="mailers"))
    unlimited_token = limited_to(operator)  # no queues of its own
    assert unlimited_token.get(f"tasks/{tasks['default']}").status_code == 404
    assert unlimited_token.get(f"tasks/{tasks['emails']}").status_code == 200


def test_a_session_user_in_a_limited_group_is_limited_too(operator, tasks, monkeypatch):
    from dashboard import access

    monkeypatch.setattr(access, "queue_access", lambda: {"mailers": ["emails"]})
    operator.groups.add(Group.objects.create(name="mailers"))
    session = Api(client=logged_in(operator))
    assert session.get(f"tasks/{tasks['default']}").status_code == 404
    assert [q["name"] for q in session.get("queues").json()["items"]] == ["emails"]
    assert session.get(f"tasks/{tasks['emails']}").status_code == 200


# -- the OpenAPI document ---------------------------------------------------------------


def test_the_document_names_each_operations_scope_and_its_queue_restrictions():
    from api.openapi import document

    for path, item in document()["paths"].items():
        for operation in item.values():
            if operation["security"] == []:  # public: no token, no queues
                continue
            assert operation["x-required-scope"] in ALL_SCOPES, path
            assert operation["x-queue-restrictions"].startswith("Queue restrictions apply"), path
            assert operation["description"].endswith(operation["x-queue-restrictions"]), path
