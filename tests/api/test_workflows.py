"""/api/v1/workflows (submit, list, inspect, cancel) and POST /api/v1/tasks with
depends_on, on the session's Redis. Tasks run through a simulated worker (claim,
complete, then apply the outbox as a worker does), as in tests/workflows/."""

import json

import jsonschema_rs
import pytest
from django.test import Client

from api.openapi import document
from taskqueue import conf
from taskqueue.models import AuditEvent
from taskqueue.records import TaskError
from tests.support.tasks import echo
from tests.support.web import Api, error_of, make_token, make_user

pytestmark = pytest.mark.django_db

ECHO = "tests.api.echo"


def node(key: str, *depends_on: str, **fields) -> dict:
    out = {"key": key, "task": ECHO, **fields}
    return out | ({"depends_on": list(depends_on)} if depends_on else {})


def chain_body() -> dict:
    """a -> b (receives a's result) -> c (does not receive b's)."""
    return {
        "name": "etl",
        "nodes": [node("a", args=[1]), node("b", args=["b"], pass_results=True),
                  node("c", args=["c"])],
        "edges": [["a", "b"], ["b", "c"]],
    }  # fmt: skip


def finish_next(broker, result=None, queue: str = "default") -> tuple[str, list]:
    """Claim the queue's next task and complete it with `result`: (its id, its args)."""
    (claimed,) = broker.claim(queue, "w1", 1)
    broker.complete(queue, [(claimed.id, claimed.attempt, json.dumps(result))])
    broker.advance([queue])
    return claimed.id, json.loads(claimed.args)


def kill_next(broker, queue: str = "default") -> str:
    (claimed,) = broker.claim(queue, "w1", 1)
    error = TaskError("ValueError", "boom", "")
    broker.fail(queue, claimed.id, claimed.attempt, retry_delay_ms=None, error=error)
    broker.advance([queue])
    return claimed.id


def by_key(workflow: dict) -> dict:
    return {n["key"]: n for n in workflow["nodes"]}


def keys_under(redis_client, prefix: str) -> list:
    return sorted(redis_client.scan_iter(match=f"{prefix}:*", count=1000))


@pytest.fixture
def nothing_written(redis_client, tq_prefix):
    """Asserts, after the test, that it left Redis exactly as it found it."""
    before = keys_under(redis_client, tq_prefix)
    yield
    assert keys_under(redis_client, tq_prefix) == before
    assert not AuditEvent.objects.filter(action__in=["enqueue", "enqueue_workflow"]).exists()


# -- POST /workflows: submitting ----------------------------------------------------------


def test_a_chain_passes_results_only_to_the_nodes_that_ask_for_them(api, broker):
    response = api.post("workflows", chain_body())
    assert response.status_code == 201
    workflow = response.json()
    assert response["Location"] == f"/api/v1/workflows/{workflow['id']}"
    assert (workflow["name"], workflow["status"]) == ("etl", "running")
    nodes = by_key(workflow)
    assert [n["status"] for n in nodes.values()] == ["pending", "waiting", "waiting"]
    assert (nodes["b"]["parents"], nodes["b"]["children"]) == (["a"], ["c"])
    assert nodes["a"]["links"]["task"] == f"/api/v1/tasks/{nodes['a']['task_id']}"
    assert finish_next(broker, "A") == (nodes["a"]["task_id"], [1])
    assert finish_next(broker, "B") == (nodes["b"]["task_id"], ["A", "b"])
    assert finish_next(broker, "C") == (nodes["c"]["task_id"], ["c"])
    done = api.get(f"workflows/{workflow['id']}").json()
    assert done["status"] == "completed" and done["counts"]["completed"] == 3
    assert {n["status"] for n in done["nodes"]} == {"completed"}


def test_a_fan_in_gets_the_list_of_its_parents_results_in_depends_on_then_edges_order(api, broker):
    body = {
        "nodes": [node("x"), node("y"), node("z"),
                  node("join", "y", "x", args=["own"], pass_results=True)],
        "edges": [["z", "join"]],
    }  # fmt: skip
    workflow = api.post("workflows", body).json()
    ids = {n["task_id"]: k for k, n in by_key(workflow).items()}
    for _ in range(3):
        (claimed,) = broker.claim("default", "w1", 1)
        result = f"{ids[claimed.id]}!"
        broker.complete("default", [(claimed.id, claimed.attempt, json.dumps(result))])
        broker.advance(["default"])
    assert finish_next(broker)[1] == [["y!", "x!", "z!"], "own"]
    assert by_key(workflow)["join"]["parents"] == ["y", "x", "z"]


def test_each_node_takes_the_enqueue_options_of_post_tasks(api):
    options = {"queue": "bulk", "priority": 9, "max_retries": 2, "delay_seconds": 60}
    workflow = api.post("workflows", {"nodes": [node("only", options=options)]}).json()
    only = by_key(workflow)["only"]
    assert (only["queue"], only["status"]) == ("bulk", "scheduled")
    task = api.get(f"tasks/{only['task_id']}").json()
    assert (task["priority"], task["max_retries"]) == (9, 2)


def test_submitting_is_audited_with_the_token_that_did_it(api):
    workflow = api.post("workflows", chain_body()).json()
    event = AuditEvent.objects.get(action="enqueue_workflow")
    assert event.actor == "olga/ci" and event.source == "api"
    assert event.detail == {"workflow": workflow["id"], "name": "etl"}


def test_unicode_keys_and_names_are_kept_as_sent(api):
    body = {"name": "nächtlich 🌙", "nodes": [node("schlüssel-🔑"), node("ключ", "schlüssel-🔑")]}
    workflow = api.post("workflows", body).json()
    assert workflow["name"] == "nächtlich 🌙"
    assert by_key(workflow)["ключ"]["parents"] == ["schlüssel-🔑"]
    assert api.get(f"workflows/{workflow['id']}").json()["nodes"] == workflow["nodes"]


# -- idempotency ------------------------------------------------------------------------


def test_the_same_idempotency_key_and_body_return_the_same_workflow(api, broker):
    headers = {"Idempotency-Key": "nightly-2030-01-01"}
    first = api.post("workflows", chain_body(), headers=headers)
    again = api.post("workflows", chain_body(), headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["nodes"] == first.json()["nodes"]  # the stored tasks' ids
    assert broker.counts("default").pending + broker.counts("default").waiting == 3
    assert AuditEvent.objects.filter(action="enqueue_workflow").count() == 1


def test_the_same_idempotency_key_with_another_body_is_409(api, broker):
    headers = {"Idempotency-Key": "k1"}
    first = api.post("workflows", chain_body(), headers=headers).json()
    other = chain_body() | {"name": "other"}
    response = api.post("workflows", other, headers=headers)
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "idempotency_conflict" and first["id"] in error["message"]
    assert broker.counts("default").pending + broker.counts("default").waiting == 3


def test_only_an_idempotent_request_marks_its_tasks_with_the_bodys_hash(api):
    plain = by_key(api.post("workflows", chain_body()).json())["a"]["task_id"]
    keyed = api.post("workflows", chain_body(), headers={"Idempotency-Key": "k"}).json()
    assert api.get(f"tasks/{plain}").json()["meta"] in ({}, None, "")
    meta = api.get(f"tasks/{by_key(keyed)['a']['task_id']}").json()["meta"]
    assert set(meta) == {"api_body_sha256"}


def test_idempotency_keys_belong_to_their_user(api):
    ivan = Api(make_token(make_user("ivan", "view_console", "operate_tasks")))
    headers = {"Idempotency-Key": "shared"}
    mine = api.post("workflows", chain_body(), headers=headers).json()
    theirs = ivan.post("workflows", chain_body(), headers=headers)
    assert theirs.status_code == 201 and theirs.json()["id"] != mine["id"]


# -- POST /workflows: refused, and nothing written ----------------------------------------

REFUSED = {
    "unknown task": ({"nodes": [node("a"), {"key": "b", "task": "billing.charge_all"}]},
                     "nodes[1].task"),
    "cycle": ({"nodes": [node("a", "b"), node("b", "a")]}, "edges"),
    "self dependency": ({"nodes": [node("a", "a")]}, "edges"),
    "edge to an unknown node": ({"nodes": [node("a")], "edges": [["a", "nope"]]}, "edges[0]"),
    "depends on an unknown node": ({"nodes": [node("a", "nope")]}, "nodes[0].depends_on"),
    "duplicate key": ({"nodes": [node("a"), node("a")]}, "nodes[1].key"),
    "nodes an object": ({"nodes": {"a": {"task": ECHO}}}, "nodes"),
    "nodes empty": ({"nodes": []}, "nodes"),
    "nodes missing": ({"name": "x"}, "nodes"),
    "node not an object": ({"nodes": ["a"]}, "nodes[0]"),
    "key a number": ({"nodes": [{"key": 1, "task": ECHO}]}, "nodes[0].key"),
    "key missing": ({"nodes": [{"task": ECHO}]}, "nodes[0].key"),
    "key empty": ({"nodes": [node("")]}, "nodes[0].key"),
    "key too long": ({"nodes": [node("k" * 101)]}, "nodes[0].key"),
    "key with NUL": ({"nodes": [node("a\x00b")]}, "nodes[0].key"),
    "key with newline": ({"nodes": [node("a\nb")]}, "nodes[0].key"),
    "key with line separator": ({"nodes": [node("a\u2028b")]}, "nodes[0].key"),
    "task a list": ({"nodes": [{"key": "a", "task": [ECHO]}]}, "nodes[0].task"),
    "args an object": ({"nodes": [node("a", args={"x": 1})]}, "nodes[0].args"),
    "kwargs a list": ({"nodes": [node("a", kwargs=[1])]}, "nodes[0].kwargs"),
    "kwargs key not an identifier": ({"nodes": [node("a", kwargs={"a b": 1})]},
                                     "nodes[0].kwargs"),
    "pass_results a string": ({"nodes": [node("a", pass_results="yes")]}, "nodes[0].pass_results"),
    "depends_on a string": ({"nodes": [node("a"), {**node("b"), "depends_on": "a"}]},
                            "nodes[1].depends_on"),
    "unknown node field": ({"nodes": [node("a", retries=3)]}, "nodes[0].retries"),
    "options a list": ({"nodes": [node("a", options=[1])]}, "nodes[0].options"),
    "unknown option": ({"nodes": [node("a", options={"timeout": 5})]}, "nodes[0].options.timeout"),
    "idempotency_key option": ({"nodes": [node("a", options={"idempotency_key": "k"})]},
                               "nodes[0].options.idempotency_key"),
    "priority out of range": ({"nodes": [node("a", options={"priority": 99})]},
                              "nodes[0].options.priority"),
    "bad queue name": ({"nodes": [node("a", options={"queue": "Bad Queue"})]},
                       "nodes[0].options.queue"),
    "delay and eta": ({"nodes": [node("a", options={"delay_seconds": 1,
                                                     "eta": "2030-01-01T00:00:00Z"})]},
                      "nodes[0].options.eta"),
    "naive eta": ({"nodes": [node("a", options={"eta": "2030-01-01T00:00:00"})]},
                  "nodes[0].options.eta"),
    "edges an object": ({"nodes": [node("a")], "edges": {"a": "b"}}, "edges"),
    "edge of three": ({"nodes": [node("a"), node("b")], "edges": [["a", "b", "a"]]}, "edges[0]"),
    "edge of numbers": ({"nodes": [node("a")], "edges": [[0, 1]]}, "edges[0]"),
    "on_failure unknown": ({"nodes": [node("a")], "on_failure": "explode"}, "on_failure"),
    "name a number": ({"nodes": [node("a")], "name": 7}, "name"),
    "name too long": ({"nodes": [node("a")], "name": "n" * 201}, "name"),
    "name with a bell": ({"nodes": [node("a")], "name": "a\x07"}, "name"),
    "unknown field": ({"nodes": [node("a")], "nodez": []}, "nodez"),
    "body an array": ([node("a")], "body"),
}  # fmt: skip


@pytest.mark.parametrize(("body", "field"), REFUSED.values(), ids=REFUSED.keys())
def test_a_bad_body_is_a_422_naming_the_field_and_writes_nothing(api, nothing_written, body, field):
    response = api.post("workflows", body)
    assert response.status_code == 422
    error = error_of(response)
    assert list(error["fields"]) == [field], error
    assert error["code"] in ("validation_error", "unknown_task")


def test_an_unknown_task_is_named_as_post_tasks_names_it(api, nothing_written):
    body = {"nodes": [node("a"), {"key": "b", "task": "billing.charge_all"}]}
    error = error_of(api.post("workflows", body))
    assert error["code"] == "unknown_task" and "billing.charge_all" in error["message"]


def test_a_cycle_is_named_by_its_nodes(api, nothing_written):
    body = {"nodes": [node("a"), node("b", "a"), node("c", "b")], "edges": [["c", "b"]]}
    message = error_of(api.post("workflows", body))["message"]
    assert "cycle" in message and "'b'" in message and "'c'" in message


def test_more_nodes_than_the_limit_are_refused_before_anything_else(api, nothing_written):
    body = {"nodes": [node(str(i)) for i in range(10_001)]}
    response = api.post("workflows", body)
    assert response.status_code == 422
    assert "at most 10000" in error_of(response)["fields"]["nodes"]


def test_the_node_limit_is_the_workflow_max_nodes_setting(api, settings, tq_settings):
    settings.TASKQUEUE = tq_settings | {"WORKFLOW_MAX_NODES": 3}
    conf.reset_config()
    assert api.post("workflows", {"nodes": [node(str(i)) for i in range(3)]}).status_code == 201
    refused = api.post("workflows", {"nodes": [node(str(i)) for i in range(4)]})
    assert refused.status_code == 422 and "WORKFLOW_MAX_NODES" in error_of(refused)["message"]


WRONG_VALUES = {
    "null": None,
    "int-10e309": 10**309,
    "float": 1.5,
    "bool": True,
    "long-string": "x" * 100_000,
    "nul-string": "a\x00b",
    "object": {"$gt": ""},
    "list-of-objects": [{"a": 1}] * 3,
    "deep-list": json.loads("[" * 90 + "]" * 90),
}
TOP_FIELDS = ("name", "on_failure", "nodes", "edges")
NODE_FIELDS = ("key", "task", "args", "kwargs", "options", "pass_results", "depends_on")


def hostile_bodies():
    for label, value in WRONG_VALUES.items():
        for name in TOP_FIELDS:
            yield f"{name}={label}", {"nodes": [node("a")], name: value}
        for name in NODE_FIELDS:
            yield f"nodes[0].{name}={label}", {"nodes": [node("a") | {name: value}]}
        yield f"options.priority={label}", {"nodes": [node("a", options={"priority": value})]}


# null stands for "not given" in an optional field (as in POST /tasks); args hold any JSON
ACCEPTED = {
    "edges=null", "nodes[0].options=null", "nodes[0].depends_on=null", "options.priority=null",
    "nodes[0].pass_results=bool", "nodes[0].args=list-of-objects", "nodes[0].args=deep-list",
}  # fmt: skip


def test_a_value_of_the_wrong_type_anywhere_is_a_4xx_and_writes_nothing(api):
    accepted, broken = set(), []
    for label, body in hostile_bodies():
        response = api.post("workflows", body)
        if response.status_code < 400:
            accepted.add(label)
        elif response.status_code >= 500 or not error_of(response)["message"]:
            broken.append(f"{label}: {response.status_code}")
    assert (broken, accepted) == ([], ACCEPTED)
    listed = api.get("workflows", limit=200).json()["items"]
    assert len(listed) == len(ACCEPTED)  # each refused body wrote no workflow


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b'{"nodes": [{"key": "a", "task": "tests.api.echo", "args": ' + b"[" * 200 + b"]" * 200
         + b"}]}", 400),
        (b'{"nodes": [{"key": "\\ud800", "task": "tests.api.echo"}]}', 422),
        (b'{"nodes": [' + b'{"key": "a", "task": "tests.api.echo", "args": ["' + b"x" * 1_100_000
         + b'"]}]}', 413),
        (b'{"nodes": [{"key": "a", "task": "tests.api.echo", "args": [NaN]}]}', 400),
    ],
    ids=["nested-too-deep", "lone-surrogate", "over-1-MiB", "NaN"],
)  # fmt: skip
def test_a_hostile_body_is_refused_and_writes_nothing(api, nothing_written, raw, status):
    response = api.post("workflows", raw=raw)
    assert response.status_code == status
    assert error_of(response)["message"]


# -- who may call -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "workflows"), ("POST", "workflows"), ("GET", "workflows/x"),
     ("POST", "workflows/x/cancel")],
)  # fmt: skip
def test_every_workflow_endpoint_needs_credentials(nothing_written, method, path):
    client = Api()
    response = client.get(path) if method == "GET" else client.post(path, chain_body())
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_read_only_token_can_list_but_not_submit_or_cancel(api, reader):
    workflow_id = api.post("workflows", chain_body()).json()["id"]
    assert reader.get("workflows").status_code == 200
    assert reader.get(f"workflows/{workflow_id}").status_code == 200
    refused = reader.post("workflows", chain_body())
    assert refused.status_code == 403 and "enqueue" in error_of(refused)["message"]
    assert reader.post(f"workflows/{workflow_id}/cancel").status_code == 403
    assert api.get(f"workflows/{workflow_id}").json()["status"] == "running"


def test_cancelling_needs_the_operate_scope_as_cancelling_a_task_does(api, operator):
    enqueuer = Api(make_token(operator, ("read", "enqueue"), name="enqueuer"))
    workflow_id = enqueuer.post("workflows", chain_body()).json()["id"]
    refused = enqueuer.post(f"workflows/{workflow_id}/cancel")
    assert refused.status_code == 403 and "operate" in error_of(refused)["message"]


def test_a_session_submit_needs_the_csrf_token(operator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    refused = Api(client=client).post("workflows", chain_body())
    assert refused.status_code == 403 and error_of(refused)["code"] == "csrf_failed"
    client.cookies["csrftoken"] = "a" * 32
    accepted = Api(client=client).post("workflows", chain_body(), headers={"X-CSRFToken": "a" * 32})
    assert accepted.status_code == 201
    assert AuditEvent.objects.get(action="enqueue_workflow").actor == "olga"


# -- GET /workflows, GET /workflows/{id} ------------------------------------------------


def test_the_list_is_newest_first_and_pages_by_offset(api):
    ids = [api.post("workflows", {"name": f"w{i}", "nodes": [node("a")]}).json()["id"]
           for i in range(3)]  # fmt: skip
    first = api.get("workflows", limit=2).json()
    assert [w["id"] for w in first["items"]] == [ids[2], ids[1]]
    assert first["next_offset"] == 2 and "nodes" not in first["items"][0]
    rest = api.get("workflows", limit=2, offset=first["next_offset"]).json()
    assert ([w["id"] for w in rest["items"]], rest["next_offset"]) == ([ids[0]], None)


def test_the_list_filters_by_status(api, broker):
    done = api.post("workflows", {"nodes": [node("a")]}).json()["id"]
    finish_next(broker)
    running = api.post("workflows", {"nodes": [node("a")]}).json()["id"]
    assert [w["id"] for w in api.get("workflows", status="completed").json()["items"]] == [done]
    assert [w["id"] for w in api.get("workflows", status="running").json()["items"]] == [running]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"status": "failed"}, "status"), ({"limit": "0"}, "limit"), ({"offset": "-1"}, "offset"),
     ({"offset": "9" * 400}, "offset"), ({"limit": "1e3"}, "limit")],
)  # fmt: skip
def test_a_bad_query_parameter_is_a_422_naming_it(api, params, field):
    response = api.get("workflows", **params)
    assert response.status_code == 422
    assert list(error_of(response)["fields"]) == [field]


def test_a_workflow_blocked_by_a_dead_task_says_so(api, broker):
    workflow = api.post("workflows", chain_body()).json()
    kill_next(broker)
    blocked = api.get(f"workflows/{workflow['id']}").json()
    assert (blocked["status"], blocked["counts"]["dead"]) == ("blocked", 1)
    assert {k: n["status"] for k, n in by_key(blocked).items()} == {
        "a": "dead", "b": "waiting", "c": "waiting"
    }  # fmt: skip
    assert [w["id"] for w in api.get("workflows", status="blocked").json()["items"]] == [
        workflow["id"]
    ]


@pytest.mark.parametrize("workflow_id", ["nope", "a:b", "x" * 5000, "%7Bwf%7D", "%F0%9F%98%80"])
def test_an_unknown_or_impossible_workflow_id_is_a_404(api, workflow_id):
    response = api.get(f"workflows/{workflow_id}")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


# -- POST /workflows/{id}/cancel --------------------------------------------------------


def test_cancelling_cancels_what_has_not_run_and_is_audited(api, broker):
    workflow = api.post("workflows", chain_body()).json()
    finish_next(broker, "A")
    response = api.post(f"workflows/{workflow['id']}/cancel")
    assert response.status_code == 200
    body = response.json()
    assert (body["outcome"], body["status_before"]) == ("cancelled", "running")
    assert body["cancelled"] == 2
    assert body["workflow"]["status"] == "cancelled"
    assert {k: n["status"] for k, n in by_key(body["workflow"]).items()} == {
        "a": "completed", "b": "cancelled", "c": "cancelled"
    }  # fmt: skip
    event = AuditEvent.objects.get(action="cancel_workflow")
    assert (event.actor, event.status_before, event.detail) == (
        "olga/ci", "running", {"workflow": workflow["id"]}
    )  # fmt: skip


def test_cancelling_a_completed_workflow_is_409(api, broker):
    workflow_id = api.post("workflows", {"nodes": [node("a")]}).json()["id"]
    finish_next(broker)
    response = api.post(f"workflows/{workflow_id}/cancel")
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "invalid_transition" and "it is completed" in error["message"]
    assert not AuditEvent.objects.filter(action="cancel_workflow").exists()


@pytest.mark.parametrize("workflow_id", ["nope", "a:b", "%7Bwf%7D"])
def test_cancelling_an_unknown_workflow_is_404_and_writes_nothing(
    api, nothing_written, workflow_id
):
    response = api.post(f"workflows/{workflow_id}/cancel")
    assert response.status_code == 404
    assert not AuditEvent.objects.filter(action="cancel_workflow").exists()


# -- POST /tasks with depends_on --------------------------------------------------------


def test_a_task_can_wait_for_existing_tasks(api, broker):
    first, second = echo.enqueue("one"), echo.using(queue="other").enqueue("two")
    response = api.post("tasks", {"task": ECHO, "args": ["after"],
                                  "depends_on": [first.id, second.id]})  # fmt: skip
    assert response.status_code == 201
    task = response.json()
    assert task["status"] == "waiting" and response["Location"] == f"/api/v1/tasks/{task['id']}"
    workflow = api.get(f"workflows/{task['workflow_id']}").json()
    assert by_key(workflow)["task"]["task_id"] == task["id"]
    finish_next(broker, "1")
    finish_next(broker, "2", queue="other")
    assert api.get(f"tasks/{task['id']}").json()["status"] == "pending"
    assert finish_next(broker) == (task["id"], ["after"])  # its own arguments only


def test_a_task_without_depends_on_has_no_workflow_id(api):
    for body in ({"task": ECHO}, {"task": ECHO, "depends_on": []}):
        task = api.post("tasks", body).json()
        assert task["status"] == "pending" and "workflow_id" not in task


def test_depends_on_a_finished_task_starts_at_once(api, broker):
    parent = echo.enqueue(1)
    finish_next(broker)
    task = api.post("tasks", {"task": ECHO, "depends_on": [parent.id]}).json()
    assert task["status"] == "pending" and task["workflow_id"]


def test_depends_on_a_dead_task_waits_and_the_workflow_is_blocked(api, broker):
    parent = echo.enqueue(1)
    kill_next(broker)
    task = api.post("tasks", {"task": ECHO, "depends_on": [parent.id]}).json()
    assert task["status"] == "waiting"
    assert api.get(f"workflows/{task['workflow_id']}").json()["status"] == "blocked"


def test_depends_on_an_unknown_task_is_a_422_and_writes_nothing(api, broker, nothing_written):
    response = api.post("tasks", {"task": ECHO, "depends_on": ["no-such-task"]})
    assert response.status_code == 422
    assert "no-such-task" in error_of(response)["fields"]["depends_on"]


def test_depends_on_with_an_idempotency_key_is_a_422_and_writes_nothing(
    api, redis_client, tq_prefix
):
    parent = echo.enqueue(1).id
    before = keys_under(redis_client, tq_prefix)
    response = api.post("tasks", {"task": ECHO, "depends_on": [parent]},
                        headers={"Idempotency-Key": "k"})  # fmt: skip
    assert response.status_code == 422
    assert "Idempotency-Key" in error_of(response)["fields"]["depends_on"]
    assert keys_under(redis_client, tq_prefix) == before


@pytest.mark.parametrize(
    "depends_on", ["abc", [1], [""], ["x" * 65], {"id": "x"}, ["a"] * 1001, ["a\x00"]]
)
def test_depends_on_of_the_wrong_shape_is_a_422(api, nothing_written, depends_on):
    response = api.post("tasks", {"task": ECHO, "depends_on": depends_on})
    assert response.status_code == 422
    assert list(error_of(response)["fields"]) == ["depends_on"]


BAD_CALLS = [
    ({"args": {"a": 1}}, "args"),
    ({"kwargs": {"a b": 1}}, "kwargs"),
    ({"priority": 99}, "priority"),
    ({"task": "nope.nope"}, "task"),
]


def test_depends_on_with_bad_arguments_is_refused_before_anything_is_written(
    api, redis_client, tq_prefix
):
    parent = echo.enqueue(1).id
    before = keys_under(redis_client, tq_prefix)
    for body, field in BAD_CALLS:
        response = api.post("tasks", {"task": ECHO, "depends_on": [parent]} | body)
        assert response.status_code == 422 and list(error_of(response)["fields"]) == [field]
    assert keys_under(redis_client, tq_prefix) == before


# -- the OpenAPI document ---------------------------------------------------------------


def conforms(body: dict, schema: str) -> bool:
    """Whether `body` is valid against a component schema of the served document
    (schemathesis sees few 2xx answers here: its random task names are unknown)."""
    root = {"$ref": f"#/components/schemas/{schema}", "components": document()["components"]}
    jsonschema_rs.Draft202012Validator(root).validate(body)
    return True


def test_every_workflow_answer_is_as_documented(api, broker):
    created = api.post("workflows", chain_body()).json()
    assert conforms(created, "Workflow")
    assert conforms(api.get("workflows").json(), "WorkflowPage")
    finish_next(broker, "A")
    assert conforms(api.get(f"workflows/{created['id']}").json(), "Workflow")
    assert conforms(api.post(f"workflows/{created['id']}/cancel").json(), "WorkflowCancel")
    waiting = api.post("tasks", {"task": ECHO, "depends_on": [echo.enqueue(1).id]}).json()
    assert conforms(waiting, "Task") and "workflow_id" in waiting


def test_the_documented_request_schema_refuses_what_the_api_refuses():
    assert conforms(chain_body(), "WorkflowRequest")
    with pytest.raises(jsonschema_rs.ValidationError):
        conforms({"nodes": [node("a", options={"timeout": 5})]}, "WorkflowRequest")
