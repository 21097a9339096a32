"""POST /api/v1/tasks with arguments that do not fit the task's signature and type hints
(issue 21): a 422 whose `fields` name each bad argument by its JSON path, and nothing
written (docs/api.md, docs/tasks.md#typed-arguments)."""

import dataclasses
import json
from pathlib import Path

import jsonschema_rs
import pytest

from api import openapi_payloads
from api.openapi import document
from taskqueue import task
from taskqueue.registry import Registry, registry
from tests.support.web import error_of

pytestmark = pytest.mark.django_db


@dataclasses.dataclass
class Person:
    email: str
    name: str = ""


@task(name="tests.api.invite")
def invite(team: str, seats: int, user: Person, notify: bool = True):
    return team


def queued(broker) -> int:
    return broker.counts("default").pending + broker.counts("default").scheduled


def test_a_call_that_fits_is_201(api, broker):
    body = {"task": "tests.api.invite", "args": ["core", 3], "kwargs": {"user": {"email": "a@b"}}}
    assert api.post("tasks", body).status_code == 201
    assert queued(broker) == 1


def test_wrong_types_are_a_422_with_a_field_per_argument_by_json_path(api, broker):
    body = {
        "task": "tests.api.invite",
        "args": ["core", "three"],
        "kwargs": {"user": {"email": 5}, "notify": "yes"},
    }
    response = api.post("tasks", body)
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert error["fields"] == {
        "args[1]": "args[1] (seats) should be a valid integer, not 'three'.",
        "kwargs.user.email": "kwargs.user.email should be a valid string, not 5.",
        "kwargs.notify": "kwargs.notify should be a valid boolean, not 'yes'.",
    }
    assert error["message"] == (  # as docs/api.md shows it
        "Invalid arguments for tests.api.invite: args[1] (seats) should be a valid integer, "
        "not 'three'; kwargs.user.email should be a valid string, not 5; kwargs.notify "
        "should be a valid boolean, not 'yes'."
    )
    assert queued(broker) == 0


def test_an_unknown_keyword_argument_is_a_422_not_a_failure_on_the_worker(api, broker):
    body = {"task": "tests.api.mail", "args": ["x"], "kwargs": {"bogus": 1}}
    response = api.post("tasks", body)
    assert response.status_code == 422
    assert error_of(response)["fields"] == {
        "kwargs.bogus": "kwargs.bogus is not a parameter of tests.api.mail (its parameters: to)."
    }
    assert queued(broker) == 0


def test_a_missing_argument_is_a_422_naming_where_it_goes(api, broker):
    response = api.post("tasks", {"task": "tests.api.invite", "kwargs": {"team": "core"}})
    assert response.status_code == 422
    assert set(error_of(response)["fields"]) == {"kwargs.seats", "kwargs.user"}
    assert queued(broker) == 0


def test_a_delayed_task_is_checked_too(api, broker):
    body = {"task": "tests.api.invite", "args": [1, 2, {}], "delay_seconds": 60}
    response = api.post("tasks", body)
    assert response.status_code == 422
    assert set(error_of(response)["fields"]) == {"args[0]", "args[2].email"}
    assert queued(broker) == 0


def test_a_task_waiting_for_another_is_checked_before_its_workflow_is_written(api, broker):
    first = api.post("tasks", {"task": "tests.api.echo"}).json()["id"]
    body = {"task": "tests.api.invite", "args": ["core", "x"], "depends_on": [first]}
    response = api.post("tasks", body)
    assert response.status_code == 422
    assert set(error_of(response)["fields"]) == {"args[1]", "args[2]"}
    assert queued(broker) == 1 and broker.counts("default").waiting == 0


def test_an_idempotency_key_is_not_used_up_by_a_refused_call(api, broker):
    bad = {"task": "tests.api.invite", "args": ["core", "x", {"email": "a"}]}
    headers = {"Idempotency-Key": "k1"}
    assert api.post("tasks", bad, headers=headers).status_code == 422
    good = {"task": "tests.api.invite", "args": ["core", 2, {"email": "a"}]}
    assert api.post("tasks", good, headers=headers).status_code == 201


# -- the OpenAPI document -----------------------------------------------------------------


@pytest.fixture
def openapi(api):
    """The document as served, built afresh (it is cached: tasks registered by test
    modules imported after its first build would be missing)."""
    document.cache_clear()
    response = api.get("openapi.json")
    assert response.status_code == 200
    return response.json()


def payload_validator(doc: dict, task_name: str):
    """A JSON Schema validator of one task's payload, resolving the document's refs."""
    target = doc["components"]["schemas"]["TaskPayloads"]["discriminator"]["mapping"][task_name]
    return jsonschema_rs.Draft202012Validator({"$ref": target, "components": doc["components"]})


def test_the_document_lists_each_registered_tasks_payload_one_of_by_name(openapi):
    schemas = openapi["components"]["schemas"]
    mapping = schemas["TaskPayloads"]["discriminator"]["mapping"]
    assert set(mapping) == {t.name for t in registry}
    assert schemas["TaskPayloads"]["oneOf"] == [{"$ref": r} for r in mapping.values()]
    invite_schema = schemas["TaskPayload.tests.api.invite"]
    assert invite_schema["properties"]["task"] == {"const": "tests.api.invite"}
    assert invite_schema["properties"]["kwargs"]["properties"]["user"] == {
        "$ref": "#/components/schemas/TaskPayload.tests.api.invite.Person"
    }
    assert schemas["TaskPayload.tests.api.invite.Person"]["required"] == ["email"]


def test_every_schema_in_the_document_is_valid_json_schema_and_its_refs_resolve(openapi):
    components = openapi["components"]
    for name, schema in components["schemas"].items():
        jsonschema_rs.meta.validate(schema)  # the 2020-12 meta-schema (OpenAPI 3.1's base)
        validator = jsonschema_rs.Draft202012Validator(
            {"$ref": f"#/components/schemas/{name}", "components": components}
        )
        validator.is_valid({})  # every $ref reached is resolved, or this raises


BODIES = [
    {"args": ["core", 3], "kwargs": {"user": {"email": "a@b"}}},
    {"kwargs": {"team": "core", "seats": 3, "user": {"email": "a@b", "name": "A"}}},
    {"args": ["core", 3, {"email": "a@b"}, False]},
    {"args": ["core", 3.5, {"email": "a@b"}]},
    {"args": ["core", "3", {"email": "a@b"}]},
    {"args": ["core", 3]},
    {"args": ["core", 3, {"email": "a@b"}], "kwargs": {"bogus": 1}},
    {"args": ["core", 3, {"email": "a@b"}, True, "extra"]},
    {"kwargs": {"team": "core", "seats": 3, "user": {}}},
    {"kwargs": {"team": "core", "seats": 3, "user": {"email": "a@b"}, "notify": 1}},
]


@pytest.mark.parametrize("body", BODIES, ids=[str(i) for i in range(len(BODIES))])
def test_a_body_the_schema_accepts_is_201_and_one_it_refuses_is_422(openapi, api, body):
    valid = payload_validator(openapi, "tests.api.invite").is_valid(
        {"task": "tests.api.invite", **body}
    )
    response = api.post("tasks", {"task": "tests.api.invite", **body})
    assert response.status_code == (201 if valid else 422), response.json()


def test_the_enqueue_request_body_is_typed_by_the_tasks_payloads(openapi):
    post = openapi["paths"]["/tasks"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "allOf": [
            {"$ref": "#/components/schemas/EnqueueRequest"},
            {"$ref": "#/components/schemas/TaskPayloads"},
        ]
    }


def test_with_no_task_registered_the_payloads_schema_is_still_valid(monkeypatch):
    monkeypatch.setattr(openapi_payloads, "registry", Registry())
    schemas = openapi_payloads.payload_schemas()
    assert set(schemas) == {"TaskPayloads"}
    jsonschema_rs.meta.validate(schemas["TaskPayloads"])
    assert not jsonschema_rs.validator_for(schemas["TaskPayloads"]).is_valid({"task": "x"})


def test_a_task_that_is_not_checked_takes_any_arguments_in_the_document(openapi):
    @task(name="tests.api.unchecked", validate=False)
    def unchecked(n: int):
        pass

    schema = openapi_payloads.payload_schemas()["TaskPayload.tests.api.unchecked"]
    assert schema["properties"] == {
        "task": {"const": "tests.api.unchecked"},
        "args": {"type": "array"},
        "kwargs": {"type": "object"},
    }


def test_the_422_in_docs_api_md_is_the_real_answer(api):
    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    section = text.split("**Arguments checked against the task.**", 1)[1]
    body = json.loads(section.split("the body\n`", 1)[1].split("`\nanswers:", 1)[0])
    shown = json.loads(section.split("```json\n", 1)[1].split("```", 1)[0])
    body["task"] = "tests.api.invite"  # the page's app.tasks.invite, declared above
    response = api.post("tasks", body)
    assert response.status_code == 422
    real = json.dumps(response.json()).replace("tests.api.invite", "app.tasks.invite")
    assert json.loads(real) == shown
