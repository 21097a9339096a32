"""Workflow keys of the wrong Redis type (the type confusion of broker/damage.py, on the
keys workflows added): a global workflow key or one workflow's own key spoiled fails no
read, no page and no action with a 500, and leaves enqueues and submissions working;
one damaged workflow must not stall the other workflows of its queue."""

import pytest
from django.test import Client

from tests.damage import spoil
from tests.support import tasks  # noqa: F401 - registers tests.api.echo
from tests.support.waits import wait_for
from tests.support.web import Api, error_of, logged_in, make_token, make_user
from tests.taskapp import tasks as taskapp_tasks  # noqa: F401 - registers tests.taskapp.tasks.*

pytestmark = pytest.mark.django_db

ONE_NODE = {"nodes": [{"key": "a", "task": "tests.api.echo"}]}
WORKFLOW_GLOBALS = ("workflows", "workflow_stats", "workflow_submissions")
WORKFLOW_KEYS = ("info", "spec", "parents", "args", "remaining", "state", "results", "tasks")
CHAIN = {
    "nodes": [
        {"key": "a", "task": "tests.taskapp.tasks.echo", "args": ["a"]},
        {"key": "b", "task": "tests.taskapp.tasks.echo", "args": ["b"], "depends_on": ["a"]},
    ]
}


@pytest.fixture
def operator(db):
    return make_user("ops", "view_console", "operate_tasks")


@pytest.fixture
def api(operator) -> Api:
    return Api(make_token(operator, ("read", "enqueue", "operate")))


@pytest.fixture
def operator_client(operator) -> Client:
    return logged_in(operator)


def workflow_answers(api: Api, console: Client, workflow_id: str | None = None) -> dict:
    """The status of every read and action that touches workflows, and of an enqueue."""
    answers = {
        "api workflows": api.get("workflows").status_code,
        "api queues": api.get("queues").status_code,
        "api metrics": api.get("metrics").status_code,
        "console workflows": console.get("/workflows/").status_code,
        "console overview": console.get("/").status_code,
        "enqueue": api.post("tasks", {"task": "tests.api.echo"}).status_code,
    }
    if workflow_id is not None:
        answers |= {
            "api workflow": api.get(f"workflows/{workflow_id}").status_code,
            "console workflow": console.get(f"/workflows/{workflow_id}/").status_code,
            "console nodes": console.get(f"/workflows/{workflow_id}/tasks/").status_code,
            "api cancel": cancel_answer(api, workflow_id),
        }
    answers["submit"] = api.post("workflows", ONE_NODE).status_code
    return answers


def cancel_answer(api: Api, workflow_id: str) -> int:
    """The cancel's status; a refusal that names the damaged key (503 damaged_key,
    "Nothing was changed") counts as an answer, not a failure: 409."""
    response = api.post(f"workflows/{workflow_id}/cancel")
    if response.status_code == 503 and error_of(response)["code"] == "damaged_key":
        return 409
    return response.status_code


def failed(answers: dict) -> dict:
    return {name: status for name, status in answers.items() if status >= 500}


@pytest.mark.parametrize("key", WORKFLOW_GLOBALS)
@pytest.mark.parametrize("wrong", ["string", "list", "set", "hash", "stream"])
def test_a_global_workflow_key_of_the_wrong_type_fails_no_page(
    api, operator_client, broker, redis_client, key, wrong
):
    if redis_client.type(getattr(broker.keys, key)) == wrong:
        pytest.skip("the right type")
    spoil(redis_client, getattr(broker.keys, key), wrong)
    answers = workflow_answers(api, operator_client)
    assert failed(answers) == {}
    assert answers["enqueue"] == 201


@pytest.mark.parametrize("kind", WORKFLOW_KEYS)
@pytest.mark.parametrize("wrong", ["string", "list"])
def test_a_key_of_one_workflow_of_the_wrong_type_fails_no_page(
    api, operator_client, broker, redis_client, kind, wrong
):
    workflow_id = api.post("workflows", ONE_NODE).json()["id"]
    key = getattr(broker.keys.workflow(workflow_id), kind)
    if redis_client.type(key) == wrong:
        pytest.skip("the right type")
    spoil(redis_client, key, wrong)
    assert failed(workflow_answers(api, operator_client, workflow_id)) == {}


def status_of(api: Api, workflow_id: str) -> str:
    return api.get(f"workflows/{workflow_id}").json()["status"]


def test_a_damaged_workflow_does_not_stall_the_other_workflows_of_its_queue(
    background_worker, api, broker, redis_client
):
    damaged = api.post("workflows", CHAIN).json()["id"]
    healthy = api.post("workflows", CHAIN).json()["id"]
    spoil(redis_client, broker.keys.workflow(damaged).state, "string")
    background_worker()
    wait_for(lambda: status_of(api, healthy) == "completed", 15, "the healthy one to complete")


def test_without_the_damage_the_same_two_workflows_complete(background_worker, api, broker):
    """The control of the test above: it fails for the damage alone."""
    first = api.post("workflows", CHAIN).json()["id"]
    second = api.post("workflows", CHAIN).json()["id"]
    background_worker()
    done = lambda: status_of(api, first) == status_of(api, second) == "completed"  # noqa: E731
    wait_for(done, 15, "both to complete")
