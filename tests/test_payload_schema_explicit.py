"""`@task(schema={...})` (issue 21): a task's payload schema given explicitly, as JSON
Schema draft 2020-12, instead of derived from its type hints. It is checked when the task
is declared; every call is checked against it at enqueue (PayloadInvalid, a 422 over the
API) and in the worker (dead-lettered), by JSON path; the OpenAPI document and the
console's catalogue show it (docs/tasks.md#typed-arguments)."""

import doctest
import json
from html import escape
from pathlib import Path

import jsonschema_rs
import pytest
from django.urls import reverse

from api.openapi import document
from taskqueue import task
from taskqueue.errors import PayloadInvalid, ValidationError
from taskqueue.payloads import SMALL_CALL, payload_of
from taskqueue.registry import registry
from taskqueue.status import Status
from tests.support.web import Api, error_of, logged_in, make_token, make_user
from tests.support.workers import run_burst

pytestmark = pytest.mark.django_db

NAME = "tests.schema_explicit.invite"
SCHEMA = {
    "type": "object",
    "properties": {
        "args": {
            "type": "array",
            "prefixItems": [{"type": "string", "minLength": 1}, {"type": "integer", "minimum": 1}],
        },
        "kwargs": {
            "type": "object",
            "properties": {
                "user": {"$ref": "#/$defs/Person"},
                "api_key": {"type": "string"},
            },
            "additionalProperties": False,
        },
    },
    "$defs": {
        "Person": {
            "type": "object",
            "required": ["email"],
            "properties": {"email": {"type": "string", "pattern": "@"}},
        }
    },
}
ran = []  # the calls the worker made (it runs in this process)


@task(name=NAME, schema=SCHEMA)
def invite(team, seats, user=None, api_key=None):
    ran.append((team, seats))
    return team


def fields_of(call) -> dict:
    with pytest.raises(PayloadInvalid) as caught:
        call()
    return caught.value.fields


# -- declaration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"args": {"type": "tuple"}}},  # not a JSON type
        {"type": "object", "properties": {"args": {"minItems": -1}}},
        {"type": "object", "properties": {"kwargs": {"properties": {"a": {"pattern": "("}}}}},
        {"type": "object", "properties": {"args": {"$ref": "#/$defs/Nowhere"}}},
    ],
    ids=["unknown type", "negative minItems", "bad regex", "dangling $ref"],
)
def test_a_malformed_schema_is_refused_when_the_task_is_declared(schema):
    with pytest.raises(ValidationError) as caught:
        task(name="tests.schema_explicit.malformed", schema=schema)(lambda: None)
    assert caught.value.field == "schema"
    assert "tests.schema_explicit.malformed: schema is not valid" in str(caught.value)
    assert "tests.schema_explicit.malformed" not in registry


@pytest.mark.parametrize(
    "schema",
    [
        ["not", "a", "dict"],
        {"type": "array"},  # not the payload's shape
        {"type": "object", "properties": {"team": {"type": "string"}}},
        {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "properties": {}},
        {"$schema": 7, "type": "object", "properties": {}},
        {"type": "object", "properties": {}, "default": float("nan")},  # not JSON
    ],
    ids=["list", "array", "not args and kwargs", "draft 7", "$schema not a string", "NaN"],
)
def test_a_schema_not_shaped_as_a_payload_is_refused_when_the_task_is_declared(schema):
    with pytest.raises(ValidationError) as caught:
        task(name="tests.schema_explicit.misshapen", schema=schema)(lambda: None)
    assert caught.value.field == "schema"
    assert "tests.schema_explicit.misshapen" not in registry


def test_a_remote_ref_is_refused_at_declaration_never_fetched():
    schema = {"type": "object", "properties": {"args": {"$ref": "https://example.com/a.json"}}}
    with pytest.raises(ValidationError, match="Retrieval is disabled"):
        task(name="tests.schema_explicit.remote", schema=schema)(lambda: None)


def test_the_declared_schema_is_a_copy_the_caller_cannot_change_later():
    schema = {"type": "object", "properties": {"args": {"maxItems": 1}}}
    t = task(name="tests.schema_explicit.copied", schema=schema)(lambda *a: None)
    try:
        schema["properties"]["args"]["maxItems"] = 5
        assert payload_of(t).problems([1, 2], {}) == {
            "args": "args has more than 1 item, not [1, 2]."
        }
    finally:
        registry.unregister("tests.schema_explicit.copied")


# -- enqueue -------------------------------------------------------------------------------


def test_enqueue_refuses_a_call_violating_the_schema_naming_each_path(broker):
    fields = fields_of(lambda: invite.enqueue("", 0, user={"email": "nobody"}))
    assert fields == {
        "args[0]": "args[0] (team) is shorter than 1 character, not ''.",
        "args[1]": "args[1] (seats) is less than the minimum of 1, not 0.",
        "kwargs.user.email": "kwargs.user.email does not match \"@\", not 'nobody'.",
    }
    assert broker.counts("default").pending == 0


def test_a_missing_field_and_an_unknown_one_are_named_by_their_paths(broker):
    fields = fields_of(lambda: invite.enqueue("core", 2, user={"name": "Ann", "email": 5}))
    assert fields == {"kwargs.user.email": 'kwargs.user.email is not of type "string", not 5.'}
    fields = fields_of(lambda: invite.enqueue("core", 2, user={}))
    assert fields == {"kwargs.user.email": "kwargs.user.email is missing."}


def test_the_signatures_arity_still_applies(broker):
    fields = fields_of(lambda: invite.enqueue("core", bogus=1))
    assert set(fields) == {"kwargs.bogus", "args[1]"}
    assert fields["kwargs.bogus"].startswith("kwargs.bogus is not a parameter of " + NAME)


def test_a_secret_looking_argument_is_not_repeated_in_the_message(broker):
    fields = fields_of(lambda: invite.enqueue("core", 2, api_key=12345678))
    assert fields == {"kwargs.api_key": 'kwargs.api_key is not of type "string".'}


def test_the_schema_replaces_the_type_hints_check(broker):
    @task(name="tests.schema_explicit.hinted", schema={"type": "object", "properties": {}})
    def hinted(n: int):
        pass

    try:
        assert hinted.enqueue("not an int").record().status == Status.PENDING
    finally:
        registry.unregister("tests.schema_explicit.hinted")


def test_a_large_call_that_does_not_fit_names_its_first_problem_only():
    payload = payload_of(invite)
    assert len(payload.problems(["core", "x"], {"user": {"email": 1}})) == 2
    huge = "x" * (SMALL_CALL + 1)
    assert payload.problems([huge, "x"], {"user": {"email": 1}}) == {
        "args[1]": "args[1] (seats) is not of type \"integer\", not 'x'."
    }


def test_a_value_nested_deeper_than_the_checker_reads_is_left_unchecked():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert payload_of(invite).problems(["core", 1], {"user": {"email": deep}}) == {}


def test_a_call_that_fits_is_enqueued_and_sealed(broker):
    handle = invite.enqueue("core", 2, user={"email": "a@b"})
    assert "checked" in handle.record().meta


# -- the API -------------------------------------------------------------------------------


def test_the_api_answers_422_with_a_field_per_path():
    api = Api(make_token(make_user("olga", "view_console", "operate_tasks")))
    body = {"task": NAME, "args": ["core", "2"], "kwargs": {"user": {"email": "x"}}}
    response = api.post("tasks", body)
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert error["fields"] == {
        "args[1]": "args[1] (seats) is not of type \"integer\", not '2'.",
        "kwargs.user.email": "kwargs.user.email does not match \"@\", not 'x'.",
    }
    body["args"][1] = 2
    body["kwargs"]["user"]["email"] = "x@y"
    assert api.post("tasks", body).status_code == 201


# -- the worker ----------------------------------------------------------------------------


def test_the_worker_dead_letters_a_record_rewritten_to_violate_the_schema(broker, redis_client):
    ran.clear()
    handle = invite.enqueue("core", 2)
    good = invite.enqueue("fine", 3)
    key = broker.keys.queue("default").task(handle.id)
    redis_client.hset(key, mapping={"args": '["core", -1]'})  # the seal no longer matches
    run_burst()
    record = handle.record()
    assert (record.status, record.error_type) == (Status.DEAD, "InvalidTaskRecord")
    assert record.error_message == (
        f"Invalid arguments for {NAME}: args[1] (seats) is less than the minimum of 1, not -1."
    )
    assert good.record().status == Status.COMPLETED
    assert ran == [("fine", 3)]


# -- the OpenAPI document and the catalogue -----------------------------------------------


def test_the_openapi_document_carries_the_explicit_schema():
    document.cache_clear()
    response = Api().get("openapi.json")
    assert response.status_code == 200
    schemas = response.json()["components"]["schemas"]
    key = f"TaskPayload.{NAME}"
    assert schemas[key]["properties"]["args"] == SCHEMA["properties"]["args"]
    assert schemas[key]["properties"]["kwargs"]["properties"]["user"] == {
        "$ref": f"#/components/schemas/{key}.Person"
    }
    assert schemas[f"{key}.Person"] == SCHEMA["$defs"]["Person"]
    validator = jsonschema_rs.Draft202012Validator(
        {"$ref": f"#/components/schemas/{key}", "components": {"schemas": schemas}}
    )
    assert validator.is_valid({"task": NAME, "args": ["core", 2], "kwargs": {}})
    assert not validator.is_valid({"task": NAME, "args": ["core", 0], "kwargs": {}})


def test_json_schema_returns_the_declared_schema():
    assert payload_of(invite).json_schema() == {
        "$schema": "https://json-schema.org/draft/2020-12/schema"
    } | json.loads(json.dumps(SCHEMA))


def test_the_catalogue_shows_the_explicit_schema():
    client = logged_in(make_user("vera", "view_console"))
    response = client.get(reverse("dashboard:catalogue-task", args=[NAME]))
    assert response.status_code == 200
    page = response.content.decode()
    assert escape('"$ref": "#/$defs/Person"') in page
    assert escape('"pattern": "@"') in page


def test_the_example_in_docs_tasks_md_raises_exactly_what_it_shows(broker):
    text = (Path(__file__).resolve().parents[1] / "docs" / "tasks.md").read_text()
    section = text.split("**An explicit schema.**", 1)[1]
    example = section.split("```pycon\n", 1)[1].split("```", 1)[0]
    test = doctest.DocTestParser().get_doctest(
        example, {"task": task, "__name__": "docs_tasks_md"}, "tasks.md", "docs/tasks.md", 0
    )
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    try:
        runner.run(test, out=lambda text: pytest.fail(text))
    finally:
        registry.unregister("app.tasks.invite_by_schema")
    assert runner.summarize(verbose=False).attempted == len(test.examples) > 0
