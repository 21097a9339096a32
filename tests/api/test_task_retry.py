"""POST /api/v1/tasks/{id}/retry."""

import pytest

from taskqueue.models import AuditEvent
from tests.support.records import make_dead
from tests.support.tasks import echo
from tests.support.web import error_of

pytestmark = pytest.mark.django_db


def test_retrying_a_dead_task_sends_it_back_to_pending(api, broker):
    task_id = make_dead(broker, echo.enqueue(1).id)
    response = api.post(f"tasks/{task_id}/retry")
    assert response.status_code == 200
    assert response.json()["task"]["status"] == "pending"
    assert AuditEvent.objects.get(action="retry").status_before == "dead"


def test_retrying_a_cancelled_task_works_too(api):
    task_id = echo.enqueue(1).id
    api.post(f"tasks/{task_id}/cancel")
    assert api.post(f"tasks/{task_id}/retry").json()["task"]["status"] == "pending"


def test_retrying_a_pending_task_is_409(api):
    response = api.post(f"tasks/{echo.enqueue(1).id}/retry")
    assert response.status_code == 409
    assert "it is pending" in error_of(response)["message"]


def test_retrying_an_unknown_task_is_404(api):
    assert api.post("tasks/nope/retry").status_code == 404
