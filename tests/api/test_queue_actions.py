"""POST /api/v1/queues/{name}/pause, /resume and /purge."""

import pytest

from taskqueue import inspect
from taskqueue.models import AuditEvent
from tests.support.tasks import echo

pytestmark = pytest.mark.django_db


def test_pause_and_resume_report_the_previous_state_and_are_audited(api, broker):
    assert api.post("queues/default/pause").json() == {
        "queue": "default", "paused": True, "was_paused": False,
    }  # fmt: skip
    assert broker.claim("default", "worker-1", 1) == [] and broker.counts("default").paused
    assert api.post("queues/default/resume").json()["was_paused"] is True
    actions = AuditEvent.objects.filter(source="api").order_by("id").values_list("action", "queue")
    assert list(actions) == [("pause", "default"), ("resume", "default")]


def test_purge_deletes_only_pending_tasks_and_returns_the_count(api):
    for i in range(3):
        echo.enqueue(i)
    echo.using(delay=60).enqueue(9)
    response = api.post("queues/default/purge")
    assert response.json() == {"queue": "default", "purged": 3}
    counts = inspect.queue_summary("default").counts
    assert (counts.pending, counts.scheduled) == (0, 1)
    event = AuditEvent.objects.get(action="purge_queue")
    assert (event.count, event.actor) == (3, "olga/ci")


@pytest.mark.parametrize("action", ["pause", "resume", "purge"])
def test_actions_on_an_unknown_queue_are_404_and_create_nothing(api, action):
    assert api.post(f"queues/typo-queue/{action}").status_code == 404
    assert "typo-queue" not in inspect.queues()


@pytest.mark.parametrize("action", ["pause", "resume", "purge"])
def test_queue_actions_need_the_operate_scope(reader, action):
    assert reader.post(f"queues/default/{action}").status_code == 403
