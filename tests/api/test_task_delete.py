"""DELETE /api/v1/tasks/{id}."""

import pytest

from taskqueue.models import AuditEvent
from tests.support.records import make_dead
from tests.support.tasks import echo
from tests.support.web import error_of

pytestmark = pytest.mark.django_db


def test_deleting_a_finished_task_removes_its_record(api, broker):
    task_id = make_dead(broker, echo.enqueue(1).id)
    response = api.delete(f"tasks/{task_id}")
    assert (response.status_code, response.json()) == (200, {"id": task_id, "deleted": True})
    assert api.get(f"tasks/{task_id}").status_code == 404
    assert AuditEvent.objects.get(action="delete").task_id == task_id


def test_deleting_a_pending_task_is_409(api):
    response = api.delete(f"tasks/{echo.enqueue(1).id}")
    assert response.status_code == 409
    assert error_of(response)["code"] == "invalid_transition"


def test_deleting_an_unknown_task_is_404(api):
    assert api.delete("tasks/nope").status_code == 404
