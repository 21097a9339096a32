"""The operator commands: `tq ...` and `pruneaudit`. Each action leaves exactly one audit
event with source "cli"; bad input is a CommandError with the engine's message and
records nothing."""

import getpass
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from taskqueue.audit import Actor, record
from taskqueue.models import AuditEvent
from taskqueue.retention import parse_age
from taskqueue.status import Status
from tests.support.records import make_dead
from tests.support.tasks import add, send

from . import finished

pytestmark = pytest.mark.django_db


def tq(capsys, *argv) -> str:
    call_command("tq", *argv)
    return capsys.readouterr().out.strip()


def event_fields(event: AuditEvent) -> tuple:
    return (event.actor, event.source, event.action, event.task_id, event.queue, event.count)


def test_cancel_is_audited_as_the_os_user_by_default(broker, capsys):
    handle = add.enqueue(1, 2)
    assert tq(capsys, "cancel", handle.id) == f"{handle.id}: cancelled."
    event = finished.only_event()
    assert event_fields(event) == (getpass.getuser(), "cli", "cancel", handle.id, "default", 1)
    assert (event.status_before, event.status_after, event.user_id) == (
        "pending",
        "cancelled",
        None,
    )


def test_user_names_the_actor_and_links_the_django_user(broker, capsys, django_user_model):
    ops = django_user_model.objects.create_user("ops")
    task_id = make_dead(broker, add.enqueue(1, 2))
    assert tq(capsys, "retry", task_id, "--user", "ops") == f"{task_id}: pending."
    event = finished.only_event()
    assert (event.actor, event.user_id, event.status_before, event.status_after) == (
        "ops",
        ops.pk,
        "dead",
        "pending",
    )


def test_delete_and_run_now_are_audited(broker, capsys):
    task_id = finished.cancelled(broker, add.enqueue(1, 2))
    later = add.using(delay=600).enqueue(3, 4)
    assert tq(capsys, "delete", task_id, "--user", "ann") == f"{task_id}: deleted."
    assert tq(capsys, "run-now", later.id, "--user", "ann") == f"{later.id}: due now."
    assert broker.get("default", later.id).status == Status.PENDING
    assert [event_fields(e)[:4] for e in finished.events()] == [
        ("ann", "cli", "delete", task_id),
        ("ann", "cli", "run_now", later.id),
    ]


def test_several_ids_make_one_bulk_action_and_one_event(broker, capsys):
    ids = [add.enqueue(i, i).id for i in range(3)]
    out = tq(capsys, "cancel", *ids, "missing-id", "--user", "ann")
    assert out == "cancel: 3 done; skipped missing-id (missing)"
    event = finished.only_event()
    assert (event.action, event.count, event.detail["ids"]) == ("cancel", 3, ids)


def test_queue_actions_are_audited(broker, capsys):
    for i in range(2):
        add.enqueue(i, i)
    assert tq(capsys, "pause", "default", "--user", "ann") == "default: paused."
    assert tq(capsys, "pause", "default", "--user", "ann") == "default: paused (it already was)."
    assert tq(capsys, "resume", "default", "--user", "ann") == "default: resumed."
    assert tq(capsys, "purge", "default", "--user", "ann") == "default: 2 pending task(s) purged."
    assert [(e.action, e.queue, e.count) for e in finished.events()] == [
        ("pause", "default", 0),
        ("pause", "default", 0),
        ("resume", "default", 0),
        ("purge_queue", "default", 2),
    ]


def test_requeue_dead_by_filter_with_a_dry_run_first(broker, capsys):
    ids = [make_dead(broker, send.enqueue(f"{i}@x"), "SMTPError") for i in range(3)]
    make_dead(broker, send.enqueue("y@x"), "KeyError")
    filt = ["--queue", "emails", "--exception", "SMTPError", "--user", "ann"]
    assert tq(capsys, "requeue-dead", *filt, "--dry-run") == (
        "Would requeue 3 dead task(s) (dry run: nothing changed)."
    )
    assert AuditEvent.objects.count() == 0
    assert tq(capsys, "requeue-dead", *filt) == "Requeued 3 dead task(s)."
    event = finished.only_event()
    assert event_fields(event) == ("ann", "cli", "requeue_dead", "", "emails", 3)
    assert event.filter == {"queue": "emails", "exception": "SMTPError"}
    assert sorted(event.detail["ids"]) == sorted(ids)
    assert broker.counts("emails").dead == 1


def test_requeue_dead_into_another_queue_records_the_new_ids(broker, capsys):
    task_id = make_dead(broker, send.enqueue("a@x"))
    out = tq(capsys, "requeue-dead", "--ids", task_id, "--to-queue", "slow", "--user", "ann")
    assert out == "Requeued 1 dead task(s) into slow."
    event = finished.only_event()
    (moved,) = broker.list_tasks("slow", Status.PENDING).items
    assert (event.task_id, event.queue, event.detail) == (
        task_id,
        "slow",
        {"ids": [task_id], "new_ids": [moved.id]},
    )


def test_purge_dead_by_name(broker, capsys):
    make_dead(broker, add.enqueue(1, 2))
    gone = make_dead(broker, send.enqueue("x"))
    assert tq(capsys, "purge-dead", "--name", "custom.send", "--user", "ann") == (
        "Purged 1 dead task(s)."
    )
    event = finished.only_event()
    assert (event.action, event.filter, event.detail) == (
        "purge_dead",
        {"name": "custom.send"},
        {"ids": [gone]},
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["cancel", "no-such-id"], "No task with id 'no-such-id' exists."),
        (["pause", "Bad Queue!"], "queue name 'Bad Queue!' is not allowed"),
        (["purge-dead"], "choose the dead letters one way"),
        (["purge-dead", "--ids", "x", "--queue", "default"], "choose the dead letters one way"),
        (["requeue-dead", "--all", "--to-queue", "{x}"], "queue name '{x}' is not allowed"),
    ],
)
def test_bad_input_is_a_command_error_and_records_nothing(broker, argv, message):
    make_dead(broker, add.enqueue(1, 2))
    with pytest.raises(CommandError, match=message.replace("{", r"\{").replace("}", r"\}")):
        call_command("tq", *argv)
    assert AuditEvent.objects.count() == 0


def test_an_illegal_transition_is_a_command_error(broker):
    handle = add.enqueue(1, 2)
    with pytest.raises(CommandError, match=f"Cannot retry task {handle.id}: it is pending."):
        call_command("tq", "retry", handle.id)
    assert AuditEvent.objects.count() == 0


@pytest.mark.parametrize(
    ("text", "age"),
    [("365d", timedelta(days=365)), ("12h", timedelta(hours=12)), ("2w", timedelta(weeks=2))],
)
def test_ages_in_hours_days_and_weeks(text, age):
    assert parse_age(text) == age


@pytest.mark.parametrize("text", ["", "365", "0d", "-1d", "1y", "1.5d", "d", "12 h", "9999999d"])
def test_pruneaudit_refuses_bad_ages(text):
    with pytest.raises(CommandError, match="is not valid"):
        call_command("pruneaudit", f"--older-than={text}")


def test_pruneaudit_deletes_old_events_in_batches_and_records_itself(capsys):
    for i in range(5):
        record(Actor("ann", "console"), "pause", queue=f"q{i}")
    AuditEvent.objects.filter(queue__in=["q0", "q1", "q2"]).update(
        created_at=timezone.now() - timedelta(days=400)
    )
    call_command("pruneaudit", "--older-than", "365d", "--batch", "2", "--user", "auditor")
    assert capsys.readouterr().out.strip() == "Deleted 3 audit event(s) older than 365d."
    remaining = list(AuditEvent.objects.order_by("id").values_list("action", "queue"))
    assert remaining == [("pause", "q3"), ("pause", "q4"), ("prune_audit", "")]
    prune = AuditEvent.objects.get(action="prune_audit")
    assert (prune.actor, prune.source, prune.count, prune.filter) == (
        "auditor",
        "cli",
        3,
        {"older_than_seconds": 365 * 86400},
    )
