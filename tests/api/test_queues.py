"""GET /api/v1/queues and /api/v1/queues/{name}."""

import pytest

from tests.support.tasks import echo, mail
from tests.support.web import error_of

pytestmark = pytest.mark.django_db


def test_every_configured_or_used_queue_is_listed_with_its_counts(reader):
    echo.enqueue(1)
    echo.using(delay=60).enqueue(2)
    mail.enqueue("a@b.c")
    queues = {q["name"]: q for q in reader.get("queues").json()["items"]}
    assert list(queues) == ["default", "emails"]
    assert queues["default"]["counts"] == {
        "waiting": 0, "pending": 1, "scheduled": 1, "processing": 0, "completed": 0, "dead": 0,
        "cancelled": 0,
    }  # fmt: skip
    assert queues["default"]["stats"]["enqueued"] == 2
    assert "per_minute" not in queues["default"]


def test_one_queue_has_throughput_age_and_the_last_hour_per_minute(reader, broker):
    echo.enqueue(1)
    task_id = echo.enqueue(2).id
    claimed = broker.claim("default", "worker-1", 2)
    broker.complete("default", [(c.id, c.attempt, "1") for c in claimed if c.id != task_id])
    queue = reader.get("queues/default").json()
    assert queue["throughput"]["completed_last_minute"] == 1
    assert queue["throughput"]["completed_last_hour"] == 1
    assert len(queue["per_minute"]) == 60
    assert queue["oldest_pending_age_s"] is None  # nothing waits: one done, one running
    echo.enqueue(3)
    assert reader.get("queues/default").json()["oldest_pending_age_s"] >= 0


def test_a_paused_queue_says_so(api):
    api.post("queues/default/pause")
    assert api.get("queues/default").json()["paused"] is True


def test_an_unknown_queue_is_404_and_a_bad_name_422(reader):
    assert reader.get("queues/never-used").status_code == 404
    for bad in ("a:b", "default%0A"):
        response = reader.get(f"queues/{bad}")
        assert response.status_code == 422 and "queue" in error_of(response)["fields"]
