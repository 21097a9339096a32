"""The durable task history: finished tasks copied from Redis into TaskArchive."""

import threading
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from taskqueue import archive, conf, services
from taskqueue.audit import Actor
from taskqueue.management.commands.archivetasks import Command as ArchiveTasks
from taskqueue.masking import MASK, mask_secrets
from taskqueue.models import ArchiveCheckpoint, TaskArchive
from tests.support.records import make_dead
from tests.support.tasks import add

from . import finished

pytestmark = pytest.mark.django_db


@pytest.fixture
def past(broker) -> int:
    """An hour ago on Redis's clock (epoch ms): settled, and well inside the retention."""
    return broker.time_ms() - 3_600_000


@pytest.fixture
def admin_user(django_user_model):
    """A superuser without a password: no slow hashing (the admin client logs it in)."""
    return django_user_model.objects.create_superuser("admin", "admin@example.com", None)


def row(task_id: str) -> TaskArchive:
    return TaskArchive.objects.get(task_id=task_id)


def test_dead_and_cancelled_tasks_are_archived_with_their_history(broker):
    dead = make_dead(broker, add.enqueue(1, 2), "KeyError", "no key", "Traceback: x")
    gone = finished.cancelled(broker, add.enqueue(3, 4))
    finished.completed(broker, add.enqueue(5, 6), result=11)
    assert archive.archive_once() == 2
    r = row(dead)
    assert (r.name, r.queue, r.status, r.attempts, r.failures) == (
        "tests.support.tasks.add",
        "default",
        "dead",
        1,
        1,
    )
    assert (r.error_type, r.error_message, r.traceback, r.dead_reason) == (
        "KeyError",
        "no key",
        "Traceback: x",
        "failed",
    )
    assert (r.worker, r.args, r.result) == ("worker-1", [1, 2], None)
    assert r.created_at <= r.started_at <= r.finished_at <= r.archived_at
    assert row(gone).status == "cancelled"


def test_completed_tasks_are_archived_with_their_result_only_when_enabled(broker, settings):
    task_id = finished.completed(broker, add.enqueue(5, 6), result={"sum": 11})
    assert archive.archive_once() == 0
    settings.TASKQUEUE = {**settings.TASKQUEUE, "ARCHIVE_COMPLETED": True}
    assert archive.archive_once() == 1
    assert (row(task_id).status, row(task_id).result) == ("completed", {"sum": 11})


def test_secret_looking_keys_are_masked_at_any_depth(broker):
    kwargs = {
        "user": "ada",
        "password": "hunter2",
        "options": {"apiKey": "k", "retries": [{"Auth_Token": "t", "keyboard": "qwerty"}]},
    }
    handle = add.enqueue({"client_secret": "s", "monkey": "banana"}, kwargs)
    make_dead(broker, handle)
    archive.archive_once()
    args = row(handle.id).args
    assert args[0] == {"client_secret": MASK, "monkey": "banana"}
    assert args[1] == {
        "user": "ada",
        "password": MASK,
        "options": {"apiKey": MASK, "retries": [{"Auth_Token": MASK, "keyboard": "qwerty"}]},
    }


def test_masking_leaves_values_without_keys_alone_and_drops_nul_characters():
    assert mask_secrets(["token", 1, None, "a\x00b"], drop_nul=True) == ["token", 1, None, "ab"]
    assert mask_secrets({"API_KEY": {"deep": 1}, "Credentials": [1]}) == {
        "API_KEY": MASK,
        "Credentials": MASK,
    }


def test_a_second_run_finds_nothing_new_and_a_later_one_only_the_new_tasks(broker, past):
    finished.write_finished(
        broker, "default", "dead", [f"d{i}" for i in range(5)], first_score=past
    )
    assert archive.archive_once(batch=2) == 5
    assert archive.archive_once(batch=2) == 0
    finished.write_finished(broker, "default", "dead", ["d5", "d6"], first_score=past + 10)
    assert archive.archive_once(batch=2) == 2
    assert TaskArchive.objects.count() == 7
    checkpoint = ArchiveCheckpoint.objects.get(queue="default", kind="dead")
    assert (checkpoint.member, checkpoint.score) == ("d6", past + 11)


def test_an_entry_that_sorts_before_a_fresh_one_is_not_skipped(broker):
    """Entries from the run's own millisecond on are written but not checkpointed past:
    one finishing in that millisecond may still sort before them (here: 'a' < 'b')."""
    future = broker.time_ms() + 3_600_000
    finished.write_finished(broker, "default", "dead", ["b"], first_score=future)
    assert archive.archive_once() == 1
    finished.write_finished(broker, "default", "dead", ["a"], first_score=future)
    assert archive.archive_once() == 2
    assert set(TaskArchive.objects.values_list("task_id", flat=True)) == {"a", "b"}


def test_a_task_that_dies_again_after_a_retry_updates_its_row(broker):
    handle = add.enqueue(1, 2)
    make_dead(broker, handle, "ValueError")
    archive.archive_once()
    services.retry(Actor("ops", "cli"), handle.id)
    make_dead(broker, handle, "KeyError")
    archive.archive_once()
    r = row(handle.id)
    assert (r.attempts, r.failures, r.error_type) == (2, 1, "KeyError")  # retry resets failures
    assert TaskArchive.objects.count() == 1


def test_history_outlives_the_redis_record_and_stays_searchable(broker, admin_client):
    task_id = make_dead(broker, add.enqueue(1, 2), "ZeroDivisionError")
    archive.archive_once()
    broker.client.delete(broker.keys.queue("default").task(task_id))  # as the TTL would
    broker.client.zrem(broker.keys.queue("default").dead, task_id)
    archive.archive_once()
    response = admin_client.get("/admin/taskqueue/taskarchive/", {"q": task_id})
    assert [r.task_id for r in response.context["cl"].result_list] == [task_id]
    response = admin_client.get("/admin/taskqueue/taskarchive/", {"q": "ZeroDivisionError"})
    assert [r.task_id for r in response.context["cl"].result_list] == [task_id]


def test_archive_if_due_runs_once_per_interval_across_processes(broker, past):
    finished.write_finished(broker, "default", "dead", ["d1"], first_score=past)
    assert archive.archive_if_due(interval=60) == 1
    finished.write_finished(broker, "default", "dead", ["d2"], first_score=past + 1)
    assert archive.archive_if_due(interval=60) is None  # another worker ran a moment ago
    assert broker.client.pttl(broker.keys.archive_lock) > 50_000
    broker.client.delete(broker.keys.archive_lock)  # the interval passed
    assert archive.archive_if_due(interval=60) == 1


def test_archive_if_due_stops_at_its_budget_and_lets_the_next_call_go_on(broker, past):
    finished.write_finished(
        broker, "default", "dead", [f"d{i}" for i in range(5)], first_score=past
    )
    assert archive.archive_if_due(interval=60, batch=2, budget=0) == 2
    assert not broker.client.exists(broker.keys.archive_lock)
    assert archive.archive_if_due(interval=60, batch=2, budget=0) == 2
    assert archive.archive_if_due(interval=60, batch=2, budget=0) == 1
    assert TaskArchive.objects.count() == 5


def test_retention_deletes_rows_older_than_the_setting(broker, settings, past):
    settings.TASKQUEUE = {**settings.TASKQUEUE, "ARCHIVE_RETENTION_DAYS": 30}
    forty_days_ms = 40 * 86_400_000
    finished.write_finished(broker, "default", "dead", ["old"], first_score=past - forty_days_ms)
    finished.write_finished(broker, "default", "dead", ["new"], first_score=past)
    assert archive.archive_once() == 2  # then the retention applies at once
    assert list(TaskArchive.objects.values_list("task_id", flat=True)) == ["new"]
    assert archive.prune_archive(now=timezone.now() + timedelta(days=31)) == 1
    assert not TaskArchive.objects.exists()


def test_the_command_archives_once_and_reports(broker, capsys):
    make_dead(broker, add.enqueue(1, 2))
    call_command("archivetasks")
    assert "Archived 1 task(s)." in capsys.readouterr().out
    assert TaskArchive.objects.count() == 1


class OneRound(threading.Event):
    """A stop event that is set by the loop's first wait."""

    def wait(self, timeout=None):
        self.set()
        return True


def test_the_command_loop_archives_when_due_until_stopped(broker, capsys, past):
    finished.write_finished(broker, "default", "cancelled", ["c1", "c2"], first_score=past)
    call_command(ArchiveTasks(stop=OneRound()), "--loop", "--interval", "30")
    assert "Archived 2 task(s)." in capsys.readouterr().out
    assert broker.client.exists(broker.keys.archive_lock)


@pytest.mark.parametrize("option", [["--batch", "0"], ["--interval", "-1"]])
def test_the_command_refuses_bad_numbers(option):
    with pytest.raises(CommandError, match="must be"):
        call_command("archivetasks", *option)


@pytest.mark.parametrize(
    ("option", "value", "check_id"),
    [
        ("ARCHIVE_COMPLETED", "yes", "taskqueue.E011"),
        ("ARCHIVE_RETENTION_DAYS", 0, "taskqueue.E008"),
        ("ARCHIVE_INTERVAL", 0, "taskqueue.E009"),
    ],
)
def test_bad_archive_options_are_reported_by_the_checks(option, value, check_id):
    (problem,) = conf.problems({option: value})
    assert problem[0] == check_id.removeprefix("taskqueue.")
    assert option in problem[1]
