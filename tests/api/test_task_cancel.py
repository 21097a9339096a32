"""POST /api/v1/tasks/{id}/cancel."""

import pytest

from taskqueue.models import AuditEvent
from tests.support.tasks import echo
from tests.support.web import error_of

pytestmark = pytest.mark.django_db


def test_cancelling_a_pending_task_cancels_it_and_audits_who(api):
    task_id = echo.enqueue(1).id
    response = api.post(f"tasks/{task_id}/cancel")
    assert response.status_code == 200
    assert response.json()["outcome"] == "cancelled"
    assert response.json()["task"]["status"] == "cancelled"
    event = AuditEvent.objects.get(action="cancel")
    assert (event.actor, event.task_id, event.status_before) == ("olga/ci", task_id, "pending")


def test_cancelling_a_running_task_asks_it_to_stop(api, broker):
    task_id = echo.enqueue(1).id
    broker.claim("default", "worker-1", 1)
    body = api.post(f"tasks/{task_id}/cancel").json()
    assert body["outcome"] == "requested"
    assert (body["task"]["status"], body["task"]["cancel_requested"]) == ("processing", True)


def test_cancelling_a_finished_task_is_409_naming_its_status(api, broker):
    task_id = echo.enqueue(1).id
    (claimed,) = broker.claim("default", "worker-1", 1)
    broker.complete("default", [(task_id, claimed.attempt, "null")])
    response = api.post(f"tasks/{task_id}/cancel")
    assert response.status_code == 409
    assert "it is completed" in error_of(response)["message"]


def test_cancelling_an_unknown_task_is_404(api):
    assert api.post("tasks/nope/cancel").status_code == 404


def test_cancel_needs_the_operate_scope(reader):
    assert reader.post(f"tasks/{echo.enqueue(1).id}/cancel").status_code == 403
