"""What the backend refuses, and when: at declaration, at .using(), at enqueue; and
run_after, which maps to our scheduled set."""

from datetime import UTC, datetime, timedelta

import pytest
from django.apps import apps
from django.tasks import TaskResultStatus, task, task_backends
from django.tasks.exceptions import InvalidTask

from taskqueue.errors import SerializationError
from taskqueue.inspect import get_task, queue_summary
from tests.support.results import finished
from tests.taskapp import django_tasks as dj


def nothing_enqueued() -> bool:
    return queue_summary("default").counts.pending == 0


def test_a_queue_outside_the_backends_queues_is_refused():
    with pytest.raises(InvalidTask, match="Queue 'emails' is not valid for backend"):
        dj.add.using(queue_name="emails")


def test_with_no_queues_configured_any_valid_queue_name_is_accepted(settings):
    settings.TASKS = {"default": {**settings.TASKS["default"], "QUEUES": []}}
    result = dj.add.using(queue_name="emails").enqueue(1, 2)
    assert get_task(result.id).queue == "emails"
    with pytest.raises(InvalidTask, match="queue name 'Not OK' is not allowed"):
        dj.add.using(queue_name="Not OK")


def test_arguments_json_cannot_carry_are_refused_as_django_says(redis_client):
    with pytest.raises(TypeError, match="Unsupported type"):
        dj.add.enqueue(datetime.now(UTC), 1)
    with pytest.raises(SerializationError, match="not JSON-serialisable"):
        dj.add.enqueue(float("nan"), 1)  # a ValueError, as for undecodable bytes
    assert nothing_enqueued()


def test_arguments_are_stored_as_json_normalises_them():
    result = dj.add.enqueue((1, 2), b=b"text")
    assert (result.args, result.kwargs) == ([[1, 2]], {"b": "text"})
    assert dj.add.get_result(result.id).args == [[1, 2]]


def test_run_after_must_be_aware_and_within_a_year():
    with pytest.raises(InvalidTask, match="aware"):
        dj.add.using(run_after=datetime(2030, 1, 1))  # naive: the point of the test
    with pytest.raises(InvalidTask, match="days ahead"):
        dj.add.using(run_after=datetime.now(UTC) + timedelta(days=400))


def test_run_after_schedules_the_task_and_it_runs_once_due(background_worker):
    when = datetime.now(UTC) + timedelta(seconds=0.3)
    result = dj.add.using(run_after=when).enqueue(1, 2)
    stored = get_task(result.id)
    assert (result.status, stored.status) == (TaskResultStatus.READY, "scheduled")
    assert abs(stored.run_at - when) < timedelta(milliseconds=2)
    assert dj.add.get_result(result.id).task.run_after == when
    background_worker()
    finished(result)
    assert result.status == TaskResultStatus.SUCCESSFUL and result.started_at >= when


def test_an_unknown_task_option_is_refused_when_declared():
    with pytest.raises(TypeError, match=r"unknown @task option.*max_retry.*Known options"):
        task(max_retry=3)(dj.add.func)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("max_retries", -1),
        ("max_retries", 2.5),
        ("timeout", 0),
        ("retry_backoff", float("inf")),
        ("retry_jitter", "yes"),
        ("retry_on", ValueError),
        ("dont_retry_on", (ValueError, "KeyError")),
    ],
)
def test_a_bad_task_option_value_is_refused_when_declared(option, value):
    with pytest.raises(InvalidTask, match=option):
        task(**{option: value})(dj.add.func)


def check(settings, **params) -> list[str]:
    settings.TASKS = {"default": {**settings.TASKS["default"], **params}}
    return [(m.id, m.msg) for m in task_backends["default"].check()]


def test_the_configured_backend_passes_its_checks(settings):
    assert check(settings) == []


def test_check_reports_unknown_and_bad_options_with_hints(settings):
    settings.TASKS = {
        "default": {
            **settings.TASKS["default"],
            "OPTIONS": {"REDIS_URL": "redis://x", "MAX_RETRIES": -2, "COLOUR": "red"},
        }
    }
    messages = {m.msg: m for m in task_backends["default"].check()}
    redis_url = messages["Unknown OPTIONS key 'REDIS_URL'."]
    assert redis_url.id == "taskqueue.E101" and "TASKQUEUE" in redis_url.hint
    assert "MAX_RETRIES, TIMEOUT" in messages["Unknown OPTIONS key 'COLOUR'."].hint
    (bad,) = [m for m in messages.values() if m.id == "taskqueue.E102"]
    assert "MAX_RETRIES" in bad.msg


def test_check_reports_bad_and_unserved_queues(settings):
    assert [i for i, _ in check(settings, QUEUES=["Bad Name"])] == ["taskqueue.E103"]
    assert [i for i, _ in check(settings, QUEUES="default")] == ["taskqueue.E103"]
    ((check_id, message),) = check(settings, QUEUES=["default", "nobody-declares-it"])
    assert check_id == "taskqueue.W104" and "nobody-declares-it" in message
    # a queue a registered task declares is served by a worker's default queues
    assert check(settings, QUEUES=["default", "newsletters"]) == []  # tests/taskapp/queue_tasks.py


def test_check_reports_a_missing_taskqueue_app(settings, monkeypatch):
    # (not by overriding INSTALLED_APPS: that would run every other app's ready() again)
    monkeypatch.setattr(apps, "is_installed", lambda name: name != "taskqueue")
    assert [i for i, _ in check(settings)] == ["taskqueue.E105"]
