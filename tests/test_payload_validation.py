"""Typed arguments (issue 21): each task's payload schema comes from its signature and
type hints; a call that does not fit is refused at enqueue, naming each bad argument
by its JSON path, and nothing is written (docs/tasks.md#typed-arguments)."""

import dataclasses
import doctest
import enum
import warnings
from datetime import datetime
from pathlib import Path
from typing import Literal, TypedDict

import pytest
from django.core import checks
from pydantic import BaseModel

import taskqueue
from taskqueue import task
from taskqueue.celery_compat import shared_task
from taskqueue.errors import PayloadInvalid, SerializationError, ValidationError
from taskqueue.payloads import Payload, payload_of
from taskqueue.registry import registry


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class User:
    email: str
    age: int = 0


class Address(TypedDict):
    city: str


class Order(BaseModel):
    sku: str
    quantity: int


@task(name="tests.payloads.invite")
def invite(email: str, role: Literal["admin", "member"] = "member", days: int = 7):
    return email


@task(name="tests.payloads.typed")
def typed(
    count: int,
    ratio: float,
    flag: bool,
    tags: list[str],
    scores: dict[str, int],
    colour: Colour,
    when: datetime,
    user: User,
    address: Address,
    order: Order,
):
    return count


@task(name="tests.payloads.untyped")
def untyped(a, b=None):
    return a


@task(name="tests.payloads.unchecked", validate=False)
def unchecked(n: int):
    return n


@task(name="tests.payloads.shapes")
def shapes(a: int, /, b: str, *rest: int, c: bool = False, **extra: float):
    return a


@pytest.fixture
def enqueued(broker):
    """How many tasks the queue holds (nothing may be written by a refused enqueue)."""
    return lambda: broker.counts("default").pending


def fields_of(call) -> dict[str, str]:
    with pytest.raises(PayloadInvalid) as caught:
        call()
    return caught.value.fields


# -- schemas ----------------------------------------------------------------------------


def test_a_schema_lists_positional_and_keyword_parameters_with_their_types():
    schema = payload_of(invite).json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["args"]["prefixItems"] == [
        {"type": "string"},
        {"enum": ["admin", "member"], "type": "string", "default": "member"},
        {"type": "integer", "default": 7},
    ]
    kwargs = schema["properties"]["kwargs"]
    assert kwargs["properties"]["email"] == {"type": "string"}
    assert kwargs["properties"]["role"]["enum"] == ["admin", "member"]
    assert kwargs["additionalProperties"] is False
    assert schema["properties"]["args"]["maxItems"] == 3


def test_a_required_parameter_is_required_as_an_argument_or_a_keyword():
    schema = payload_of(invite).json_schema()
    assert schema["allOf"] == [
        {
            "anyOf": [
                {"required": ["args"], "properties": {"args": {"minItems": 1}}},
                {"required": ["kwargs"], "properties": {"kwargs": {"required": ["email"]}}},
            ]
        }
    ]


def test_types_from_annotations_become_json_schema():
    props = payload_of(typed).json_schema()["properties"]["kwargs"]["properties"]
    assert props["count"] == {"type": "integer"}
    assert props["ratio"] == {"type": "number"}
    assert props["flag"] == {"type": "boolean"}
    assert props["tags"] == {"type": "array", "items": {"type": "string"}}
    assert props["scores"] == {"type": "object", "additionalProperties": {"type": "integer"}}
    assert props["when"] == {"type": "string", "format": "date-time"}
    for name, ref in (("colour", "Colour"), ("user", "User"), ("address", "Address")):
        assert props[name] == {"$ref": f"#/$defs/{ref}"}
    defs = payload_of(typed).json_schema()["$defs"]
    assert defs["Colour"]["enum"] == ["red", "blue"]
    assert defs["User"]["required"] == ["email"]
    assert defs["Order"]["required"] == ["sku", "quantity"]


def test_unannotated_parameters_accept_any_json():
    schema = payload_of(untyped).json_schema()
    assert schema["properties"]["kwargs"]["properties"] == {"a": {}, "b": {"default": None}}
    assert payload_of(untyped).problems([{"any": ["json", 1, None]}], {"b": 2.5}) == {}


def test_positional_only_keyword_only_and_variadic_parameters_shape_the_schema():
    schema = payload_of(shapes).json_schema()
    args, kwargs = schema["properties"]["args"], schema["properties"]["kwargs"]
    assert args["prefixItems"] == [{"type": "integer"}, {"type": "string"}]
    assert args["items"] == {"type": "integer"} and "maxItems" not in args
    assert args["minItems"] == 1  # a is positional-only
    assert set(kwargs["properties"]) == {"b", "c"}  # a cannot be given by keyword
    assert kwargs["additionalProperties"] == {"type": "number"}


def test_celery_bound_tasks_leave_self_out_of_the_schema():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)

        @shared_task(bind=True, name="tests.payloads.bound")
        def bound(self, n: int):
            return n

    assert payload_of(bound).json_schema()["properties"]["kwargs"]["properties"] == {
        "n": {"type": "integer"}
    }
    assert payload_of(bound).problems([1], {}) == {}
    assert set(payload_of(bound).problems(["x"], {})) == {"args[0]"}


def test_the_payload_is_built_once_per_task():
    assert payload_of(invite) is payload_of(invite)


def test_an_annotation_pydantic_cannot_check_is_left_unchecked():
    class Opaque:
        pass

    def f(thing: Opaque, n: int):
        pass

    payload = Payload("f", f)
    assert payload.problems([object(), 1], {}) == {}
    assert set(payload.problems([object(), "x"], {})) == {"args[1]"}


# -- errors at enqueue ----------------------------------------------------------------


def test_a_wrong_type_is_refused_naming_the_argument_and_what_was_expected(enqueued):
    with pytest.raises(PayloadInvalid) as caught:
        invite.enqueue("a@example.com", role="owner")
    assert str(caught.value) == (
        "Invalid arguments for tests.payloads.invite: kwargs.role should be 'admin' or "
        "'member', not 'owner'."
    )
    assert caught.value.field == "kwargs.role"
    assert isinstance(caught.value, ValidationError)
    assert enqueued() == 0


def test_a_positional_argument_is_named_by_index_and_parameter(enqueued):
    assert fields_of(lambda: invite.enqueue("a@example.com", "admin", "7")) == {
        "args[2]": "args[2] (days) should be a valid integer, not '7'."
    }
    assert enqueued() == 0


def test_an_unknown_keyword_is_refused_as_today_it_failed_on_the_worker(enqueued):
    assert fields_of(lambda: untyped.enqueue("x", bogus=1)) == {
        "kwargs.bogus": "kwargs.bogus is not a parameter of tests.payloads.untyped "
        "(its parameters: a, b)."
    }
    assert enqueued() == 0


def test_missing_extra_and_repeated_arguments_are_each_named():
    assert fields_of(lambda: invite.prepare()) == {
        "kwargs.email": "kwargs.email is missing: email is required (give it as args[0] "
        "or kwargs.email)."
    }
    assert set(fields_of(lambda: invite.prepare("a", "admin", 1, 2))) == {"args[3]"}
    assert fields_of(lambda: invite.prepare("a", email="b")) == {
        "kwargs.email": "kwargs.email is given twice: email is also args[0]."
    }


def test_nested_errors_are_named_by_their_json_path():
    good = {
        "count": 1,
        "ratio": 1,  # an int is a JSON number
        "flag": True,
        "tags": ["a"],
        "scores": {"a": 1},
        "colour": "red",
        "when": "2030-01-01T12:00:00Z",
        "user": {"email": "a@example.com"},
        "address": {"city": "Oslo"},
        "order": {"sku": "x", "quantity": 2},
    }
    typed.prepare(**good)
    bad = good | {
        "count": True,
        "tags": ["a", 2],
        "scores": {"b": "1"},
        "colour": "green",
        "when": "tomorrow",
        "user": {"email": 5},
        "address": {},
        "order": {"sku": "x", "quantity": 1.5},
    }
    assert set(fields_of(lambda: typed.prepare(**bad))) == {
        "kwargs.count",
        "kwargs.tags[1]",
        "kwargs.scores.b",
        "kwargs.colour",
        "kwargs.when",
        "kwargs.user.email",
        "kwargs.address.city",
        "kwargs.order.quantity",
    }


def test_values_are_checked_as_json_strictly_a_string_is_not_a_number():
    assert set(fields_of(lambda: typed.prepare(*(["1"] + [None] * 9)))) >= {"args[0]"}
    assert fields_of(lambda: invite.prepare("a", days=7.0)) == {
        "kwargs.days": "kwargs.days should be a valid integer, not 7.0."
    }


def test_the_value_of_a_secret_looking_argument_is_not_repeated_in_the_error():
    @task(name="tests.payloads.login")
    def login(user: str, password: str):
        pass

    with pytest.raises(PayloadInvalid) as caught:
        login.prepare("u", 12345678)
    assert "12345678" not in str(caught.value) and "password" in str(caught.value)


def test_every_item_of_a_bulk_enqueue_is_checked_and_none_is_written(enqueued):
    with pytest.raises(PayloadInvalid):
        taskqueue.enqueue_many([invite.prepare("a"), invite.prepare("b"), invite.prepare(5)])
    assert enqueued() == 0


def test_enqueue_by_name_checks_too(enqueued):
    with pytest.raises(PayloadInvalid, match=r"kwargs\.days"):
        taskqueue.enqueue("tests.payloads.invite", ["a"], {"days": "soon"})
    assert enqueued() == 0


def test_a_task_waiting_for_another_is_checked_before_its_workflow_is_written(enqueued):
    first = untyped.enqueue(1)
    with pytest.raises(PayloadInvalid):
        invite.using(depends_on=[first]).enqueue(5)
    assert enqueued() == 1


def test_json_problems_are_still_reported_first():
    with pytest.raises(SerializationError):
        untyped.prepare(object())


def test_a_call_that_fits_is_enqueued_unchanged(broker):
    handle = invite.enqueue("a@example.com", days=3)
    record = broker.get("default", handle.id)
    assert (record.args, record.kwargs) == (["a@example.com"], {"days": 3})


# -- opting out -------------------------------------------------------------------------


def test_a_task_may_opt_out_with_validate_false():
    unchecked.prepare("not a number", extra=1)  # no error


def test_validate_must_be_a_boolean():
    with pytest.raises(ValidationError, match="validate must be True or False"):
        task(name="tests.payloads.bad_flag", validate="no")(lambda: None)


def test_the_setting_turns_checking_off_for_every_task(settings, tq_settings):
    settings.TASKQUEUE = {**tq_settings, "VALIDATE_PAYLOADS": False}
    invite.prepare(5, role="owner")  # no error


def test_a_setting_that_is_not_a_boolean_is_a_system_check_error(settings, tq_settings):
    settings.TASKQUEUE = {**tq_settings, "VALIDATE_PAYLOADS": "yes"}
    errors = [e for e in checks.run_checks(tags=["taskqueue"]) if e.id == "taskqueue.E011"]
    assert [e.msg for e in errors] == [
        "TASKQUEUE['VALIDATE_PAYLOADS'] must be True or False, not 'yes'."
    ]


# -- the documented example -------------------------------------------------------------


def test_the_example_in_docs_tasks_md_raises_exactly_what_it_shows():
    text = (Path(__file__).resolve().parents[1] / "docs" / "tasks.md").read_text()
    section = text.split("## Typed arguments", 1)[1]
    example = section.split("```pycon\n", 1)[1].split("```", 1)[0]
    test = doctest.DocTestParser().get_doctest(
        example, {"task": task, "__name__": "docs_tasks_md"}, "tasks.md", "docs/tasks.md", 0
    )
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test, out=lambda text: pytest.fail(text))
    assert runner.summarize(verbose=False).attempted == len(test.examples) > 0


def test_a_value_nested_deeper_than_the_checker_reads_is_left_unchecked():
    def f(tree: list, n: int):
        pass

    deep: list = []
    for _ in range(300):
        deep = [deep]
    assert Payload("f", f).problems([deep, 1], {}) == {}
    assert set(Payload("f", f).problems([[[1]], "x"], {})) == {"args[1]"}


# -- django.tasks -----------------------------------------------------------------------


def test_a_django_task_is_checked_at_enqueue_without_its_context_parameter(enqueued):
    from tests.taskapp import django_tasks as dj

    with pytest.raises(PayloadInvalid) as caught:  # a ValueError, as Django's contract has it
        dj.about_me.enqueue(tag=5)
    assert caught.value.fields == {"kwargs.tag": "kwargs.tag should be a valid string, not 5."}
    native = registry.get(dj.about_me.module_path)
    assert payload_of(native).json_schema()["properties"]["kwargs"]["properties"] == {
        "tag": {"type": "string", "default": ""}
    }
    assert enqueued() == 0
    dj.about_me.enqueue(tag="fine")
    assert enqueued() == 1


def test_a_union_is_named_once_by_its_json_path_with_each_alternative():
    def f(x: int | str, items: list[User]):
        pass

    assert Payload("f", f).problems([1.5, [{"email": "a"}, {}]], {}) == {
        "args[0]": "args[0] (x) should be a valid integer, not 1.5 or should be a valid "
        "string, not 1.5.",
        "args[1][1].email": "args[1][1].email (items) is missing.",
    }


def test_a_list_of_wrong_items_names_its_first_bad_item():
    def f(xs: list[int], grid: dict[str, list[int]] | None = None):
        pass

    assert Payload("f", f).problems([[1, "a", "b"]], {"grid": {"r": [1, 2, "c", "d"]}}) == {
        "args[0][1]": "args[0][1] (xs) should be a valid integer, not 'a'.",
        "kwargs.grid.r[2]": "kwargs.grid.r[2] should be a valid integer, not 'c'.",
    }


def test_a_function_whose_signature_cannot_be_read_is_not_checked():
    builtin = task(name="tests.payloads.builtin")(max)  # no signature inspect can read
    assert payload_of(builtin).problems([1, 2, 3], {"key": None}) == {}
