"""Exact bulk actions through the API (issue 19, item 2): a dry run counts and answers
a confirmation token; the action given the token touches exactly what was counted.
Callers that send no token keep the old behaviour."""

import pytest

from taskqueue import inspect
from taskqueue.models import AuditEvent
from tests.support.records import make_dead
from tests.support.tasks import echo
from tests.support.web import error_of

pytestmark = pytest.mark.django_db


def test_a_purge_without_a_body_deletes_every_pending_task_as_before(api):
    for i in range(3):
        echo.enqueue(i)
    assert api.post("queues/default/purge").json() == {"queue": "default", "purged": 3}
    assert api.post("queues/default/purge", {}).json() == {"queue": "default", "purged": 0}


def test_a_confirmed_purge_deletes_what_the_dry_run_counted_and_not_what_came_after(api):
    counted = [echo.enqueue(i).id for i in range(23)]
    dry = api.post("queues/default/purge", {"dry_run": True}).json()
    assert (dry["count"], dry["pending"], dry["dry_run"], dry["expires_in_s"]) == (
        23,
        23,
        True,
        600,
    )
    late = echo.enqueue("late").id
    api.post(f"tasks/{counted[0]}/cancel")
    done = api.post("queues/default/purge", {"confirmation": dry["confirmation"]}).json()
    assert done == {
        "queue": "default",
        "purged": 22,
        "confirmed": 23,
        "not_pending": {"cancelled": 1},
    }
    assert inspect.get_task(late).status == "pending"
    event = AuditEvent.objects.get(action="purge_queue")
    assert (event.count, event.filter) == (
        22,
        {"confirmation": dry["confirmation"], "confirmed": 23},
    )
    assert event.detail == {"not_pending": {"cancelled": 1}}


def test_a_used_or_unknown_confirmation_is_refused_and_deletes_nothing(api):
    echo.enqueue(1)
    token = api.post("queues/default/purge", {"dry_run": True}).json()["confirmation"]
    assert api.post("queues/default/purge", {"confirmation": token}).json()["purged"] == 1
    echo.enqueue(2)
    again = api.post("queues/default/purge", {"confirmation": token})
    assert again.status_code == 422 and "expired or was used" in error_of(again)["message"]
    for bad in ("nope", 7, "A" * 32):
        response = api.post("queues/default/purge", {"confirmation": bad})
        assert response.status_code == 422 and "confirmation" in error_of(response)["fields"]
    assert inspect.queue_counts("default").pending == 1


@pytest.mark.parametrize(
    "body", [{"dry_run": "yes"}, {"dry_run": True, "confirmation": "0" * 32}, {"purge": True}, []]
)
def test_a_malformed_purge_body_is_a_422(api, body):
    echo.enqueue(1)
    assert api.post("queues/default/purge", body).status_code == 422
    assert inspect.queue_counts("default").pending == 1


@pytest.mark.parametrize("action", ["requeue", "purge"])
def test_a_confirmed_dlq_action_leaves_dead_letters_that_died_after_the_count(api, broker, action):
    counted = [make_dead(broker, echo.enqueue(i).id) for i in range(3)]
    dry = api.post(f"dlq/{action}", {"filter": {"exception": "ValueError"}, "dry_run": True}).json()
    assert dry["count"] == 3
    later = make_dead(broker, echo.enqueue("later").id)
    api.post(f"tasks/{counted[0]}/retry")  # requeued by someone else meanwhile
    done = api.post(f"dlq/{action}", {"confirmation": dry["confirmation"]}).json()
    assert done == {"count": 2, "dry_run": False, "confirmed": 3, "not_dead": {"pending": 1}}
    assert inspect.get_task(later).status == "dead"
    assert inspect.get_task(counted[0]).status == "pending"
    event = AuditEvent.objects.get(action=f"{action}_dead")
    assert event.count == 2 and event.filter["confirmed"] == 3
    assert sorted(event.detail["ids"]) == sorted(counted[1:])


def test_a_dlq_confirmation_goes_alone(api):
    body = {"confirmation": "0" * 32, "ids": ["x"]}
    assert api.post("dlq/purge", body).status_code == 422
    response = api.post("dlq/purge", {"confirmation": "0" * 32})
    assert response.status_code == 422 and "expired" in error_of(response)["message"]
