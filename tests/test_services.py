"""The service layer: the actions the API, console, admin and CLI share, each audited."""

import pytest

import taskqueue
from taskqueue import services
from taskqueue.audit import Actor
from taskqueue.errors import InvalidQueueName, InvalidTransition, TaskDoesNotExist, ValidationError
from taskqueue.inspect import TaskFilter
from taskqueue.models import AuditEvent
from taskqueue.status import Status
from tests.finished import only_event
from tests.support.records import make_dead
from tests.support.tasks import add, send

pytestmark = pytest.mark.django_db
ALICE = Actor("alice", "console", ip="10.0.0.7", user_agent="pytest")


def test_cancel_of_a_pending_task_cancels_it_and_records_who():
    handle = add.enqueue(1, 2)
    assert services.cancel(ALICE, handle.id) == "cancelled"
    assert taskqueue.get_task(handle.id).status == Status.CANCELLED
    event = only_event()
    assert (event.actor, event.source, event.action, event.task_id, event.queue) == (
        "alice",
        "console",
        "cancel",
        handle.id,
        "default",
    )
    assert (event.status_before, event.status_after, event.ip) == (
        "pending",
        "cancelled",
        "10.0.0.7",
    )


def test_a_failed_action_records_nothing():
    handle = add.enqueue(1, 2)
    services.cancel(ALICE, handle.id)
    with pytest.raises(InvalidTransition, match="it is cancelled"):
        services.cancel(ALICE, handle.id)
    with pytest.raises(TaskDoesNotExist):
        services.cancel(ALICE, "no-such-id")
    assert AuditEvent.objects.count() == 1


def test_retry_of_a_dead_task_makes_it_pending(broker):
    task_id = make_dead(broker, add.enqueue(1, 2))
    assert services.retry(ALICE, task_id).status == Status.PENDING
    assert (only_event().action, only_event().status_before) == ("retry", "dead")


def test_retry_of_a_pending_task_is_an_invalid_transition():
    handle = add.enqueue(1, 2)
    with pytest.raises(InvalidTransition, match=r"Cannot retry .* it is pending"):
        services.retry(ALICE, handle.id)


def test_run_now_is_audited():
    handle = add.using(delay=60).enqueue(1, 2)
    services.run_now(ALICE, handle.id)
    assert taskqueue.get_task(handle.id).status == Status.PENDING
    assert (only_event().action, only_event().status_before) == ("run_now", "scheduled")


def test_delete_of_a_dead_task_removes_it(broker):
    task_id = make_dead(broker, add.enqueue(1, 2))
    services.delete(ALICE, task_id)
    with pytest.raises(TaskDoesNotExist):
        taskqueue.get_task(task_id)
    assert only_event().action == "delete"


def test_delete_of_a_pending_task_is_refused():
    handle = add.enqueue(1, 2)
    with pytest.raises(InvalidTransition, match="Cannot delete"):
        services.delete(ALICE, handle.id)


def test_pause_resume_and_purge_a_queue(broker):
    for i in range(3):
        add.enqueue(i, i)
    assert services.pause(ALICE, "default") is False
    assert broker.counts("default").paused
    assert services.resume(ALICE, "default") is True
    assert services.purge_queue(ALICE, "default") == 3
    assert broker.counts("default").pending == 0
    actions = list(AuditEvent.objects.order_by("id").values_list("action", "count"))
    assert actions == [("pause", 0), ("resume", 0), ("purge_queue", 3)]


def test_actions_on_a_bad_queue_name_are_refused():
    with pytest.raises(InvalidQueueName):
        services.pause(ALICE, "../etc")


def test_bulk_cancel_acts_on_what_it_can_and_reports_the_rest(broker):
    done = make_dead(broker, add.enqueue(9, 9))
    pending = [add.enqueue(i, i).id for i in range(3)]
    result = services.bulk(ALICE, "cancel", [*pending, done, "missing-id"])
    assert sorted(result.done) == sorted(pending)
    assert result.skipped == {done: "dead", "missing-id": "missing"}
    event = only_event()
    assert (event.action, event.count, event.task_id) == ("cancel", 3, "")


def test_bulk_rejects_an_unknown_action():
    with pytest.raises(ValidationError, match="cancel, retry or delete"):
        services.bulk(ALICE, "explode", [add.enqueue(1, 1).id])


def test_requeue_dead_by_filter_counts_first_with_a_dry_run(broker):
    for _ in range(3):
        make_dead(broker, add.enqueue(1, 2), "ValueError")
    make_dead(broker, add.enqueue(1, 2), "KeyError")
    flt = TaskFilter(queue="default", exception="ValueError")
    assert services.requeue_dead(ALICE, flt=flt, dry_run=True) == 3
    assert AuditEvent.objects.count() == 0
    assert services.requeue_dead(ALICE, flt=flt) == 3
    assert broker.counts("default").dead == 1
    event = only_event()
    assert (event.action, event.count, event.filter) == (
        "requeue_dead",
        3,
        {"queue": "default", "exception": "ValueError"},
    )


def test_requeue_dead_into_another_queue_moves_each_task_once(broker):
    task_id = make_dead(broker, send.enqueue("a@b.c"))
    assert services.requeue_dead(ALICE, ids=[task_id], to_queue="retry-lane") == 1
    assert services.requeue_dead(ALICE, ids=[task_id], to_queue="retry-lane") == 0
    assert broker.counts("retry-lane").pending == 1
    assert broker.counts("emails").dead == 0
    (moved,) = broker.list_tasks("retry-lane", Status.PENDING).items
    assert (moved.name, moved.args) == ("custom.send", ["a@b.c"])


def test_a_task_moved_to_another_queue_keeps_its_exact_level(broker):
    handle = add.using(level=137).enqueue(1, 2)  # between native levels, as Django's are
    task_id = make_dead(broker, handle)
    services.requeue_dead(ALICE, ids=[task_id], to_queue="elsewhere")
    (moved,) = broker.list_tasks("elsewhere", Status.PENDING).items
    assert moved.band == 200 - 137


def test_purge_dead_by_task_name(broker):
    make_dead(broker, add.enqueue(1, 2))
    make_dead(broker, send.enqueue("x"))
    flt = TaskFilter(name="custom.send")
    assert services.purge_dead(ALICE, flt=flt) == 1
    assert broker.counts("default").dead == 1
    assert broker.counts("emails").dead == 0


def test_dead_letter_actions_need_ids_or_a_filter_not_both():
    with pytest.raises(ValidationError, match="either ids or a filter"):
        services.purge_dead(ALICE)
    with pytest.raises(ValidationError, match="either ids or a filter"):
        services.purge_dead(ALICE, ids=["x"], flt=TaskFilter())


def test_enqueue_through_the_service_is_audited_once_per_task():
    actor = Actor("svc/token-1", "api")
    first = services.enqueue(actor, "tests.support.tasks.add", [1, 2], idempotency_key="k")
    again = services.enqueue(actor, "tests.support.tasks.add", [1, 2], idempotency_key="k")
    assert first == again
    event = only_event()
    assert (event.action, event.source, event.detail) == (
        "enqueue",
        "api",
        {"task": "tests.support.tasks.add"},
    )


@pytest.mark.parametrize("bad", ["\x00", "a\x00b", "x" * 65, ""])
def test_a_bulk_action_with_a_malformed_id_does_nothing_and_records_nothing(broker, bad):
    task_id = make_dead(broker, add.enqueue(1, 2))
    with pytest.raises(ValidationError, match="is not a task id"):
        services.bulk(ALICE, "retry", [task_id, bad])
    with pytest.raises(ValidationError, match="is not a task id"):
        services.requeue_dead(ALICE, ids=[task_id, bad])
    assert broker.get("default", task_id).status == Status.DEAD
    assert AuditEvent.objects.count() == 0


def test_the_audit_trail_stores_no_nul_characters_and_only_valid_ips():
    from taskqueue.audit import record

    record(
        Actor("bob\x00", "api", ip="not-an-ip", user_agent="ua\x00"),
        "pause",
        queue="q",
        detail={"note\x00": ["a\x00b"]},
    )
    event = only_event()
    assert (event.actor, event.user_agent, event.ip) == ("bob", "ua", None)
    assert event.detail == {"note": ["ab"]}


def test_queue_actions_refuse_a_queue_that_is_neither_configured_nor_used(broker):
    from taskqueue.errors import QueueDoesNotExist

    for action in (services.pause, services.resume, services.purge_queue):
        with pytest.raises(QueueDoesNotExist, match="no-such-queue"):
            action(ALICE, "no-such-queue")
    assert "no-such-queue" not in broker.known_queues()
    assert AuditEvent.objects.count() == 0
