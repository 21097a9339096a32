"""POST /api/v1/tasks: enqueue a registered task by name."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from taskqueue import inspect
from taskqueue.status import Status
from tests.support.web import Api, error_of, make_token, make_user

pytestmark = pytest.mark.django_db


def test_enqueue_returns_201_with_the_full_task_and_its_location(api):
    response = api.post("tasks", {"task": "tests.api.echo", "args": [1, "two"], "kwargs": {"x": 3}})
    assert response.status_code == 201
    task = response.json()
    assert response["Location"] == f"/api/v1/tasks/{task['id']}"
    assert (task["name"], task["queue"], task["status"]) == ("tests.api.echo", "default", "pending")
    assert (task["args"], task["kwargs"], task["priority"]) == ([1, "two"], {"x": 3}, 5)
    assert inspect.get_task(task["id"]).status == Status.PENDING


def test_args_and_kwargs_may_be_left_out(api):
    assert api.post("tasks", {"task": "tests.api.echo"}).json()["args"] == []


def test_options_override_the_tasks_declaration(api):
    body = {"task": "tests.api.mail", "args": ["a@b.c"], "queue": "bulk", "priority": 9,
            "max_retries": 7}  # fmt: skip
    task = api.post("tasks", body).json()
    assert (task["queue"], task["priority"], task["max_retries"]) == ("bulk", 9, 7)


def test_delay_seconds_schedules_the_task(api):
    task = api.post("tasks", {"task": "tests.api.echo", "delay_seconds": 60}).json()
    assert task["status"] == "scheduled"
    created, run_at = (datetime.fromisoformat(task[k]) for k in ("created_at", "run_at"))
    assert timedelta(seconds=59) < run_at - created < timedelta(seconds=61)


def test_an_eta_with_an_offset_schedules_the_task_then(api):
    eta = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    body = {
        "task": "tests.api.echo",
        "eta": eta.astimezone(timezone(timedelta(hours=2))).isoformat(),
    }
    task = api.post("tasks", body).json()
    assert (task["status"], datetime.fromisoformat(task["run_at"])) == ("scheduled", eta)


def test_an_unknown_task_name_is_a_422_naming_it(api):
    response = api.post("tasks", {"task": "billing.charge_everyone"})
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "unknown_task" and "billing.charge_everyone" in error["fields"]["task"]


def test_delay_and_eta_together_are_refused(api):
    body = {"task": "tests.api.echo", "delay_seconds": 5, "eta": "2030-01-01T00:00:00Z"}
    response = api.post("tasks", body)
    assert response.status_code == 422 and "eta" in error_of(response)["fields"]


def test_unknown_fields_are_named(api):
    response = api.post("tasks", {"task": "tests.api.echo", "delay": 5})
    assert response.status_code == 422
    assert list(error_of(response)["fields"]) == ["delay"]


def test_the_same_idempotency_key_and_body_give_the_same_task(api):
    body = {"task": "tests.api.echo", "args": [1], "kwargs": {"a": 1, "b": 2}}
    first = api.post("tasks", body, headers={"Idempotency-Key": "order-17"})
    reordered = {"kwargs": {"b": 2, "a": 1}, "args": [1], "task": "tests.api.echo"}
    again = api.post("tasks", reordered, headers={"Idempotency-Key": "order-17"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert inspect.queue_summary("default").counts.pending == 1


def test_the_same_idempotency_key_with_another_body_is_a_conflict(api):
    api.post("tasks", {"task": "tests.api.echo", "args": [1]}, headers={"Idempotency-Key": "k"})
    response = api.post(
        "tasks", {"task": "tests.api.echo", "args": [2]}, headers={"Idempotency-Key": "k"}
    )
    assert response.status_code == 409
    assert error_of(response)["code"] == "idempotency_conflict"
    assert inspect.queue_summary("default").counts.pending == 1


def test_idempotency_keys_of_different_users_do_not_meet(api):
    other = Api(make_token(make_user("otto", "view_console", "operate_tasks")))
    body = {"task": "tests.api.echo"}
    mine = api.post("tasks", body, headers={"Idempotency-Key": "k"}).json()["id"]
    theirs = other.post("tasks", body, headers={"Idempotency-Key": "k"})
    assert theirs.status_code == 201 and theirs.json()["id"] != mine


@pytest.mark.parametrize("key", ["", "x" * 151, "tab\there"])
def test_a_bad_idempotency_key_is_refused(api, key):
    response = api.post("tasks", {"task": "tests.api.echo"}, headers={"Idempotency-Key": key})
    assert response.status_code == 422
    assert "Idempotency-Key" in error_of(response)["fields"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "application/json; charset=latin-1"])  # fmt: skip
def test_a_body_that_is_not_json_is_415(api, content_type):
    response = api.post("tasks", raw='{"task": "tests.api.echo"}', content_type=content_type)
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


def test_a_body_over_the_limit_is_413(api, settings):
    settings.TASKQUEUE_API = {"MAX_BODY_BYTES": 100}
    response = api.post("tasks", {"task": "tests.api.echo", "args": ["x" * 100]})
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"
    assert api.post("tasks", {"task": "tests.api.echo"}).status_code == 201


def test_the_default_limit_is_one_mebibyte(api):
    just_over = {"task": "tests.api.echo", "args": ["x" * (1024 * 1024)]}
    assert api.post("tasks", just_over).status_code == 413


def test_a_refused_enqueue_changes_nothing(api):
    api.post("tasks", {"task": "tests.api.echo", "priority": 99})
    assert inspect.queue_summary("default").counts.pending == 0
