"""The issue's hostile-input table, against POST /api/v1/tasks: every row gets a 4xx
with the one error shape, changes nothing, imports nothing, and never a 500. And a
tenant with a trailing newline (`$` matches before one), wherever a tenant is named."""

import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from taskqueue import flow, inspect, options
from taskqueue.errors import ValidationError
from tests.support.web import error_of

pytestmark = pytest.mark.django_db

ECHO = '{"task": "tests.api.echo", '


def deep(levels: int) -> str:
    return ECHO + '"args": ' + "[" * levels + "]" * levels + "}"


# (case id, raw JSON body, expected status, the field the error names or None)
TABLE = [
    ("truncated", '{"task": "tests.api.echo", "args": [1, 2', 400, None),
    ("not-json", "task=tests.api.echo", 400, None),
    ("blank", " \n ", 400, None),
    ("utf8-invalid", b'{"task": "\xff\xfe"}', 400, None),
    ("bom", '\ufeff{"task": "tests.api.echo"}', 400, None),
    ("nan", ECHO + '"args": [NaN]}', 400, None),
    ("infinity", ECHO + '"priority": Infinity}', 400, None),
    ("minus-infinity", ECHO + '"args": [-Infinity]}', 400, None),
    ("float-overflow", ECHO + '"delay_seconds": 1e999}', 400, None),
    ("nesting-10000", deep(10_000), 400, None),
    ("nesting-101", deep(101), 400, None),
    ("integer-5000-digits", ECHO + '"args": [' + "9" * 5000 + "]}", 400, None),
    ("priority-5000-digits", ECHO + '"priority": ' + "9" * 4000 + "}", 422, "priority"),
    ("priority-true", ECHO + '"priority": true}', 422, "priority"),
    ("priority-string", ECHO + '"priority": "5"}', 422, "priority"),
    ("priority-float", ECHO + '"priority": 1.5}', 422, "priority"),
    ("priority-99", ECHO + '"priority": 99}', 422, "priority"),
    ("priority-0", ECHO + '"priority": 0}', 422, "priority"),
    ("kwargs-not-identifier", ECHO + '"kwargs": {"not an identifier": 1}}', 422, "kwargs"),
    ("kwargs-keyword-dash", ECHO + '"kwargs": {"a-b": 1}}', 422, "kwargs"),
    ("kwargs-array", ECHO + '"kwargs": [1]}', 422, "kwargs"),
    ("args-object", ECHO + '"args": {"a": 1}}', 422, "args"),
    ("queue-dotdot", ECHO + '"queue": "../x"}', 422, "queue"),
    ("queue-colon", ECHO + '"queue": "a:b"}', 422, "queue"),
    ("queue-braces", ECHO + '"queue": "{t}"}', 422, "queue"),
    ("queue-300", ECHO + '"queue": "' + "q" * 300 + '"}', 422, "queue"),
    ("queue-empty", ECHO + '"queue": ""}', 422, "queue"),
    ("queue-trailing-newline", ECHO + '"queue": "default\\n"}', 422, "queue"),
    ("queue-number", ECHO + '"queue": 7}', 422, "queue"),
    ("queue-nul", ECHO + '"queue": "a\\u0000b"}', 422, "queue"),
    ("queue-lone-surrogate", ECHO + '"queue": "a\\ud800"}', 422, "body"),
    ("tenant-trailing-newline", ECHO + '"tenant": "acme\\n"}', 422, "tenant"),
    ("task-os-system", '{"task": "os.system", "args": ["touch /tmp/pwned"]}', 422, "task"),
    ("task-dunder-import", '{"task": "__import__", "args": ["os"]}', 422, "task"),
    ("task-module-path", '{"task": "subprocess.run"}', 422, "task"),
    ("task-missing", '{"args": []}', 422, "task"),
    ("task-number", '{"task": 5}', 422, "task"),
    ("task-nul", '{"task": "tests.api.echo\\u0000"}', 422, "task"),
    ("task-lone-surrogate", '{"task": "\\udc00"}', 422, "body"),
    ("task-300", '{"task": "' + "t" * 300 + '"}', 422, "task"),
    ("args-lone-surrogate", ECHO + '"args": ["\\ud83d"]}', 422, "body"),
    ("kwargs-key-surrogate", ECHO + '"kwargs": {"\\ud800": 1}}', 422, "body"),
    ("eta-naive", ECHO + '"eta": "2030-01-01T00:00:00"}', 422, "eta"),
    ("eta-date-only", ECHO + '"eta": "2030-01-01"}', 422, "eta"),
    ("eta-absurd-future", ECHO + '"eta": "9999-12-31T23:59:59+00:00"}', 422, "eta"),
    ("eta-garbage", ECHO + '"eta": "tomorrow"}', 422, "eta"),
    ("eta-number", ECHO + '"eta": 1700000000}', 422, "eta"),
    ("eta-huge-offset", ECHO + '"eta": "9999-12-31T23:59:59-23:59"}', 422, "eta"),
    ("eta-nul", ECHO + '"eta": "2030-01-01T00:00:00\\u0000Z"}', 422, "eta"),
    ("delay-negative", ECHO + '"delay_seconds": -1}', 422, "delay_seconds"),
    ("delay-string", ECHO + '"delay_seconds": "60"}', 422, "delay_seconds"),
    ("delay-soon", ECHO + '"delay_seconds": "soon"}', 422, "delay_seconds"),
    ("delay-two-years", ECHO + '"delay_seconds": 63072000}', 422, "delay_seconds"),
    ("delay-10e309-int", ECHO + '"delay_seconds": 1' + "0" * 309 + "}", 422, "delay_seconds"),
    ("delay-4000-digits", ECHO + '"delay_seconds": ' + "9" * 4000 + "}", 422, "delay_seconds"),
    ("max-retries-4000-digits", ECHO + '"max_retries": ' + "9" * 4000 + "}", 422, "max_retries"),
    ("max-retries-negative", ECHO + '"max_retries": -1}', 422, "max_retries"),
    ("max-retries-float", ECHO + '"max_retries": 2.0}', 422, "max_retries"),
    ("max-retries-huge", ECHO + '"max_retries": 100000}', 422, "max_retries"),
    ("body-array", "[1, 2, 3]", 422, "body"),
    ("body-string", '"tests.api.echo"', 422, "body"),
    ("body-null", "null", 422, "body"),
    ("unknown-field", ECHO + '"__class__": 1}', 422, "__class__"),
]


@pytest.mark.parametrize(("raw", "status", "field"),
                         [pytest.param(*row[1:], id=row[0]) for row in TABLE])  # fmt: skip
def test_hostile_bodies_get_a_clear_4xx_and_change_nothing(api, raw, status, field):
    api.post("tasks", raw="{}")  # a first, harmless request loads the views' own modules
    modules_before = set(sys.modules)
    response = api.post("tasks", raw=raw)
    assert response.status_code == status, response.content[:300]
    error = error_of(response)
    assert error["message"]
    if field is not None:
        assert field in error["fields"], error
    assert inspect.queue_summary("default").counts.pending == 0
    assert set(sys.modules) == modules_before  # nothing was imported by name


def test_an_eta_in_the_past_means_now(api):
    body = {"task": "tests.api.echo", "eta": "2001-01-01T00:00:00+00:00"}
    assert api.post("tasks", body).json()["status"] == "pending"


def test_a_deep_but_allowed_body_round_trips(api):
    nested = 1
    for _ in range(95):
        nested = [nested]
    task = api.post("tasks", {"task": "tests.api.echo", "args": [nested]}).json()
    assert api.get(f"tasks/{task['id']}").json()["args"] == [nested]


def test_text_with_escaped_surrogate_pairs_and_nul_in_args_is_fine(api):
    body = ECHO + '"args": ["\\ud83d\\ude00", "a\\u0000b", "\\\\ud800"]}'
    task = api.post("tasks", raw=body).json()
    assert task["args"] == ["\U0001f600", "a\x00b", "\\ud800"]


def test_a_tenant_with_a_trailing_newline_is_no_tenant():
    with pytest.raises(ValidationError):
        options.tenant("acme\n")


TENANT_REQUESTS = {
    "set limits": lambda api: api.client.put(
        "/api/v1/queues/default/limits",
        '{"tenant": "acme\\n", "concurrency": 1}',
        content_type="application/json",
    ),
    "clear limits": lambda api: api.client.delete("/api/v1/queues/default/limits?tenant=acme%0A"),
    "list tasks": lambda api: api.get("tasks", tenant="acme\n"),
}


@pytest.mark.parametrize("send", TENANT_REQUESTS.values(), ids=TENANT_REQUESTS)
def test_the_api_refuses_a_tenant_with_a_trailing_newline_naming_the_field(api, broker, send):
    refused = send(api)
    assert refused.status_code == 422, refused.content[:300]
    assert "tenant" in error_of(refused)["fields"]
    assert not [t for t in flow.queue_limits("default").tenants if t.startswith("acme")]


def test_tq_limits_refuses_a_tenant_with_a_trailing_newline(broker):
    with pytest.raises(CommandError, match="--tenant must be"):
        call_command("tq", "limits", "set", "default", "--tenant", "acme\n", "--concurrency", "1")
    assert not [t for t in flow.queue_limits("default").tenants if t.startswith("acme")]
