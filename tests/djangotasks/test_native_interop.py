"""Django tasks are tasks like any other: the JSON API lists, shows and enqueues them
by name, and what it enqueues reads back through django.tasks."""

import pytest
from django.tasks import TaskResultStatus

from taskqueue.inspect import TaskFilter, search_tasks
from tests.support.web import Api, make_token, make_user
from tests.support.workers import run_burst
from tests.taskapp import django_tasks as dj

pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> Api:
    return Api(make_token(make_user("ops", "view_console", "operate_tasks")))


def test_the_api_shows_a_django_task_with_both_priorities(api):
    result = dj.mark.using(priority=37).enqueue("seen")
    shown = api.get(f"tasks/{result.id}").json()
    assert (shown["name"], shown["status"], shown["args"]) == (
        dj.mark.module_path,
        "pending",
        ["seen"],
    )
    assert shown["priority"] == 7 and shown["meta"]["django"]["priority"] == 37
    found = search_tasks(TaskFilter(name=dj.mark.module_path)).items
    assert [r.id for r in found] == [result.id]


def test_a_django_task_enqueued_over_the_api_runs_and_reads_back_through_django(api):
    response = api.post("tasks", {"task": dj.add.module_path, "args": [40, 2]})
    assert response.status_code == 201
    task_id = response.json()["id"]
    run_burst()
    assert api.get(f"tasks/{task_id}").json()["result"] == 42
    result = dj.add.get_result(task_id)
    assert (result.status, result.return_value) == (TaskResultStatus.SUCCESSFUL, 42)
    assert result.task.priority == 0  # native 5, the API's default


def test_by_name_a_django_task_keeps_its_declared_options(api):
    shown = api.post("tasks", {"task": dj.too_slow.module_path}).json()
    assert (shown["timeout"], shown["max_retries"]) == (0.2, 0)
