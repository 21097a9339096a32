"""GET /api/v1/tasks/{id}: the full record."""

import pytest

from tests.support.records import make_dead
from tests.support.tasks import echo
from tests.support.web import error_of

pytestmark = pytest.mark.django_db


def test_the_record_has_everything_about_the_task(reader, broker):
    task_id = make_dead(broker, echo.enqueue(1, b=2).id, error_type="KeyError")
    task = reader.get(f"tasks/{task_id}").json()
    assert (task["status"], task["args"], task["kwargs"]) == ("dead", [1], {"b": 2})
    assert (task["error_type"], task["error_message"], task["attempts"]) == ("KeyError", "boom", 1)
    assert task["traceback"] == "Traceback ..."
    assert [(a["worker"], a["outcome"]) for a in task["history"]] == [("worker-1", "dead")]
    for field in ("created_at", "started_at", "finished_at", "lease_until", "result", "progress"):
        assert field in task


@pytest.mark.parametrize("task_id", ["no-such-task", "x" * 65, "%00", "..%2F..%2Fetc"])
def test_an_unknown_id_is_404(reader, task_id):
    response = reader.get(f"tasks/{task_id}")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_values_under_secret_looking_keys_are_masked_as_in_the_console(api):
    from taskqueue.masking import MASK

    created = api.post(
        "tasks",
        {
            "task": "tests.api.echo",
            "args": [{"password": "hunter2"}],
            "kwargs": {"api_key": "sk-live", "user": "ada"},
        },
    ).json()
    body = api.get(f"tasks/{created['id']}").json()
    assert body["args"] == [{"password": MASK}]
    assert body["kwargs"] == {"api_key": MASK, "user": "ada"}
    assert "hunter2" not in api.get("tasks").content.decode()
