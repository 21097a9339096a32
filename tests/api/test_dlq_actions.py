"""POST /api/v1/dlq/requeue and /api/v1/dlq/purge: by ids or by filter, dry runs."""

import pytest

from taskqueue import inspect
from taskqueue.models import AuditEvent
from tests.support.records import make_dead
from tests.support.tasks import echo, mail
from tests.support.web import error_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def dead(broker) -> dict[str, str]:
    return {
        "value": make_dead(broker, echo.enqueue(1).id, error_type="ValueError"),
        "key": make_dead(broker, echo.enqueue(2).id, error_type="KeyError"),
        "mail": make_dead(broker, mail.enqueue("x"), "ValueError"),
    }


def test_a_dry_run_counts_and_changes_nothing(api, dead):
    body = {"filter": {"exception": "ValueError"}, "dry_run": True}
    for action in ("dlq/requeue", "dlq/purge"):
        answer = api.post(action, body).json()
        assert (answer["count"], answer["dry_run"], answer["expires_in_s"]) == (2, True, 600)
        assert len(answer["confirmation"]) == 32  # what it counted, noted (test_confirmed)
    assert inspect.dead_groups() == {"ValueError": 2, "KeyError": 1}
    assert not AuditEvent.objects.filter(source="api").exists()


def test_requeue_by_filter_sends_matching_dead_letters_back(api, dead):
    body = {"filter": {"queue": "default", "exception": "ValueError"}}
    assert api.post("dlq/requeue", body).json() == {"count": 1, "dry_run": False}
    assert inspect.get_task(dead["value"]).status == "pending"
    assert inspect.get_task(dead["key"]).status == "dead"
    event = AuditEvent.objects.get(action="requeue_dead")
    assert (event.count, event.filter) == (1, {"queue": "default", "exception": "ValueError"})


def test_requeue_by_ids_into_another_queue(api, dead):
    body = {"ids": [dead["mail"]], "to_queue": "retry-lane"}
    assert api.post("dlq/requeue", body).json()["count"] == 1
    assert inspect.queue_summary("retry-lane").counts.pending == 1
    assert inspect.queue_summary("emails").counts.dead == 0


def test_purge_by_ids_deletes_only_those(api, dead):
    assert api.post("dlq/purge", {"ids": [dead["key"], "not-an-id"]}).json()["count"] == 1
    assert inspect.dead_groups() == {"ValueError": 2}
    assert AuditEvent.objects.get(action="purge_dead").count == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "ids"),
        ({"ids": ["a"], "filter": {}}, "ids"),
        ({"ids": "a"}, "ids"),
        ({"ids": [1, 2]}, "ids"),
        ({"filter": {"queue": "default", "status": "dead"}}, "filter"),
        ({"filter": {"name": 5}}, "filter"),
        ({"filter": []}, "filter"),
        ({"filter": {}, "dry_run": "yes"}, "dry_run"),
        ({"filter": {}, "to_queue": "{t}"}, "to_queue"),
        ({"filter": {}, "to_queue": "default\n"}, "to_queue"),
        ({"filter": {}, "everything": True}, "everything"),
        ([], "body"),
    ],
)
def test_bad_selections_are_422_naming_the_field(api, dead, body, field):
    response = api.post("dlq/requeue", body)
    assert response.status_code == 422
    assert field in error_of(response)["fields"]
    assert inspect.dead_groups() == {"ValueError": 2, "KeyError": 1}


def test_purge_has_no_to_queue(api, dead):
    response = api.post("dlq/purge", {"filter": {}, "to_queue": "x"})
    assert response.status_code == 422 and "to_queue" in error_of(response)["fields"]
