"""GET, PUT and DELETE /api/v1/queues/{name}/limits (flow control, through taskqueue.flow),
and the limits summary in the queue JSON. Declared limits are written as a worker
writes them (broker.declare_limits); tasks are held back by a real claim."""

import json

import pytest
from django.test import Client

from api.tokens import create_token
from taskqueue.audit import Actor
from taskqueue.limits import Limit, Rate
from taskqueue.models import AuditEvent
from tests.support.tasks import echo, mail
from tests.support.web import ALL_SCOPES, Api, error_of, logged_in

pytestmark = pytest.mark.django_db

ECHO = "tests.api.echo"
URL = "/api/v1/queues/{}/limits"
NONE = {"rate": None, "burst": None, "concurrency": None}


def put(api: Api, body, queue: str = "default", *, raw: str | None = None, **headers):
    data = raw if raw is not None else json.dumps(body)
    return api.client.put(URL.format(queue), data, content_type="application/json", headers=headers)


def delete(api: Api, queue: str = "default", **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return api.client.delete(URL.format(queue) + (f"?{query}" if query else ""))


def declare(broker, task: str | None = ECHO, *, rate=None, conc=None, queue="default"):
    """Declare limits as a worker does at start (task None: the queue's own)."""
    limit = Limit(rate, conc)
    if task is None:
        broker.declare_limits(queue, limit, [])
    else:
        broker.declare_limits(queue, Limit(), [(task, limit)])


def hold(broker, n: int) -> list[str]:
    """Echo limited to 1 a minute, n echo tasks enqueued and claimed: one runs, the
    rest are held back. Their ids."""
    declare(broker, rate=Rate(1, 60_000))
    ids = [echo.enqueue(i).id for i in range(n)]
    assert len(broker.claim("default", "w1", n)) == 1
    return ids


def set_limit_events():
    return AuditEvent.objects.filter(action=AuditEvent.Action.SET_LIMIT)


def scope_of(api: Api, task: str | None = ECHO, queue: str = "default") -> dict:
    limits = api.get(f"queues/{queue}/limits").json()["limits"]
    return limits["queue"] if task is None else limits["tasks"][task]


# -- reading ---------------------------------------------------------------------------


def test_a_queue_without_limits_has_no_scopes(api):
    response = api.get("queues/default/limits")
    assert response.status_code == 200
    assert response.json() == {"queue": "default",
                               "limits": {"queue": None, "tasks": {}, "tenants": {}},
                               "held": 0,
                               "quotas": {"max_backlog": None, "tenant_backlog": None}}  # fmt: skip


def test_declared_limits_read_as_in_force_with_no_override(api, broker):
    declare(broker, rate=Rate(100, 1000, 5), conc=3)
    declare(broker, None, conc=10)
    limits = api.get("queues/default/limits").json()["limits"]
    assert limits["tasks"][ECHO] == {
        "rate": "100/s", "burst": 5, "concurrency": 3,
        "declared": {"rate": "100/s", "burst": 5, "concurrency": 3},
        "override": None, "held": 0, "running": 0, "throttled": False,
    }  # fmt: skip
    assert limits["queue"] == {**NONE, "concurrency": 10, "declared": {**NONE, "concurrency": 10},
                               "override": None, "held": 0, "running": 0,
                               "throttled": False}  # fmt: skip


def test_held_and_running_tasks_are_counted_and_a_spent_rate_is_throttled(api, broker):
    hold(broker, 4)
    body = api.get("queues/default/limits").json()
    assert body["held"] == 3
    scope = body["limits"]["tasks"][ECHO]
    assert (scope["held"], scope["throttled"]) == (3, True)


def test_a_full_concurrency_limit_counts_the_running_task_and_is_throttled(api, broker):
    declare(broker, conc=1)
    echo.enqueue(1), echo.enqueue(2)
    assert len(broker.claim("default", "w1", 2)) == 1
    scope = scope_of(api)
    assert (scope["running"], scope["held"], scope["throttled"]) == (1, 1, True)


# -- setting ---------------------------------------------------------------------------


def test_put_sets_an_override_that_wins_over_the_declared_limit(api, broker):
    declare(broker, rate=Rate(100, 1000), conc=3)
    response = put(api, {"task": ECHO, "rate": "10/m", "burst": 2, "concurrency": 7})
    assert response.status_code == 200
    assert response.json() == {
        "queue": "default", "task": ECHO, "released": 0,
        "limits": {
            "rate": "10/m", "burst": 2, "concurrency": 7,
            "declared": {"rate": "100/s", "burst": 1, "concurrency": 3},
            "override": {"rate": "10/m", "burst": 2, "concurrency": 7},
            "held": 0, "running": 0, "throttled": False,
        },
    }  # fmt: skip
    assert scope_of(api) == response.json()["limits"]


def test_null_means_no_limit_while_the_declared_one_stays_known(api, broker):
    declare(broker, rate=Rate(100, 1000), conc=3)
    limits = put(api, {"task": ECHO, "rate": None, "concurrency": None}).json()["limits"]
    assert (limits["rate"], limits["burst"], limits["concurrency"]) == (None, None, None)
    assert limits["override"] == {"rate": None, "concurrency": None}
    assert limits["declared"] == {"rate": "100/s", "burst": 1, "concurrency": 3}


def test_a_kind_left_out_of_the_body_goes_back_to_its_declared_value(api, broker):
    declare(broker, rate=Rate(100, 1000), conc=3)
    put(api, {"task": ECHO, "rate": "5/s", "concurrency": 9})
    limits = put(api, {"task": ECHO, "rate": "6/s"}).json()["limits"]
    assert limits["override"] == {"rate": "6/s", "burst": 1}
    assert (limits["rate"], limits["concurrency"]) == ("6/s", 3)


def test_put_without_a_task_sets_the_queue_s_own_limits(api):
    response = put(api, {"concurrency": 4})
    assert response.json()["task"] is None
    own = scope_of(api, None)
    assert (own["concurrency"], own["override"], own["declared"]) == (4, {"concurrency": 4}, NONE)
    assert api.get("queues/default").json()["limits"] == {
        "limited": True, "held": 0, "throttled": False,
    }  # fmt: skip


def test_lifting_a_limit_releases_the_held_tasks_and_is_audited(api, broker):
    hold(broker, 4)
    response = put(api, {"task": ECHO, "rate": None})
    assert response.json()["released"] == 3
    assert response.json()["limits"]["held"] == 0
    assert len(broker.claim("default", "w1", 10)) == 3
    event = AuditEvent.objects.get(action=AuditEvent.Action.SET_LIMIT)
    assert (event.queue, event.count, event.actor, event.source) == ("default", 3, "olga/ci", "api")
    assert event.detail == {"task": ECHO, "rate": None, "burst": None,
                            "concurrency": "declared", "released": 3}  # fmt: skip


def test_a_rate_set_is_audited_with_its_burst(api):
    put(api, {"task": ECHO, "rate": "100/m", "burst": 10, "concurrency": 5})
    event = AuditEvent.objects.get(action=AuditEvent.Action.SET_LIMIT)
    assert event.detail == {"task": ECHO, "rate": "100/m", "burst": 10, "concurrency": 5,
                            "released": 0}  # fmt: skip


# -- clearing --------------------------------------------------------------------------


def test_delete_puts_both_kinds_back_to_the_declared_ones(api, broker):
    declare(broker, rate=Rate(100, 1000), conc=3)
    put(api, {"task": ECHO, "rate": None, "concurrency": 50})
    response = delete(api, task=ECHO)
    assert response.status_code == 200
    limits = response.json()["limits"]
    assert (limits["rate"], limits["concurrency"], limits["override"]) == ("100/s", 3, None)
    last = AuditEvent.objects.filter(action="set_limit").latest("id")
    assert last.detail["rate"] == last.detail["concurrency"] == "declared"


def test_delete_of_an_undeclared_task_s_override_leaves_no_limit(api, broker):
    put(api, {"task": ECHO, "concurrency": 2})
    body = delete(api, task=ECHO).json()
    assert body == {"queue": "default", "task": ECHO, "released": 0,
                    "limits": {**NONE, "declared": NONE, "override": None, "held": 0,
                               "running": 0, "throttled": False}}  # fmt: skip
    assert api.get("queues/default").json()["limits"]["limited"] is False


def test_delete_releases_tasks_an_override_held(api, broker):
    put(api, {"task": ECHO, "rate": "1/h"})
    for i in range(3):
        echo.enqueue(i)
    assert len(broker.claim("default", "w1", 3)) == 1
    assert api.get("queues/default").json()["limits"] == {
        "limited": True, "held": 2, "throttled": True,
    }  # fmt: skip
    assert delete(api, task=ECHO).json()["released"] == 2


def test_delete_without_a_task_clears_the_queue_s_own_override(api):
    put(api, {"concurrency": 4})
    assert delete(api).json()["limits"]["override"] is None
    assert api.get("queues/default/limits").json()["limits"]["queue"] is None


# -- the queue JSON --------------------------------------------------------------------


def test_the_queue_list_and_detail_carry_the_limits_summary(api, broker):
    mail.enqueue("a@example.com")  # a second queue in use, without limits
    hold(broker, 3)
    items = {q["name"]: q["limits"] for q in api.get("queues").json()["items"]}
    assert items == {
        "default": {"limited": True, "held": 2, "throttled": True},
        "emails": {"limited": False, "held": 0, "throttled": False},
    }
    assert api.get("queues/default").json()["limits"] == items["default"]


# -- refusals --------------------------------------------------------------------------


def test_every_method_needs_credentials():
    anonymous = Api()
    assert anonymous.get("queues/default/limits").status_code == 401
    assert put(anonymous, {"concurrency": 1}).status_code == 401
    assert delete(anonymous).status_code == 401
    assert not set_limit_events()


def test_a_read_token_reads_but_cannot_set_or_clear(reader):
    assert reader.get("queues/default/limits").status_code == 200
    refused = put(reader, {"concurrency": 1})
    assert refused.status_code == 403 and error_of(refused)["code"] == "forbidden"
    assert delete(reader).status_code == 403
    assert scope_of(reader, None) is None


def test_a_session_put_and_delete_need_the_csrf_token(operator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    session = Api(client=client)
    assert error_of(put(session, {"concurrency": 1}))["code"] == "csrf_failed"
    assert error_of(delete(session))["code"] == "csrf_failed"
    assert not set_limit_events()
    client.cookies["csrftoken"] = "a" * 32
    accepted = put(session, {"concurrency": 1}, X_CSRFToken="a" * 32)
    assert accepted.status_code == 200
    assert AuditEvent.objects.get(action="set_limit").actor == "olga"


def test_a_logged_in_session_reads_without_a_token(operator):
    assert Api(client=logged_in(operator)).get("queues/default/limits").status_code == 200


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_an_unknown_queue_is_404_and_nothing_is_written(api, method):
    if method == "get":
        response = api.get("queues/typo/limits")
    elif method == "put":
        response = put(api, {"concurrency": 1}, "typo")
    else:
        response = delete(api, "typo")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    assert not set_limit_events()


def test_an_impossible_queue_name_is_422(api):
    response = api.get("queues/A:B/limits")
    assert response.status_code == 422


def test_a_token_limited_to_queues_meets_another_queue_as_missing(operator, broker):
    mail.enqueue("a@example.com")  # emails is in use
    secret = create_token(Actor("tests", "system"), operator, "mailer", ALL_SCOPES, ["emails"])[1]
    limited = Api(secret)
    for response in (
        limited.get("queues/default/limits"),
        put(limited, {"concurrency": 1}),
        delete(limited),
    ):
        assert response.status_code == 404
        assert error_of(response)["message"] == "No queue named 'default' is configured or in use."
    assert limited.get("queues/emails/limits").status_code == 200
    assert put(limited, {"concurrency": 2}, "emails").status_code == 200
    assert list(set_limit_events().values_list("queue", flat=True)) == ["emails"]


BAD_FIELDS = [
    ({"rate": "fast"}, "rate"),
    ({"rate": "0/s"}, "rate"),
    ({"rate": "10/2d"}, "rate"),
    ({"rate": 10}, "rate"),
    ({"rate": True}, "rate"),
    ({"rate": ["1/s"]}, "rate"),
    ({"rate": "1" * 5000 + "/s"}, "rate"),
    ({"rate": "9" * 30 + "/s"}, "rate"),
    ({"rate": "1/s", "burst": 0}, "burst"),
    ({"rate": "1/s", "burst": -1}, "burst"),
    ({"rate": "1/s", "burst": True}, "burst"),
    ({"rate": "1/s", "burst": 1.5}, "burst"),
    ({"rate": "1/s", "burst": 10**40}, "burst"),
    ({"rate": "1/s", "burst": "3"}, "burst"),
    ({"burst": 3}, "burst"),
    ({"rate": None, "burst": 3}, "burst"),
    ({"concurrency": 0}, "concurrency"),
    ({"concurrency": -3}, "concurrency"),
    ({"concurrency": True}, "concurrency"),
    ({"concurrency": 2.0}, "concurrency"),
    ({"concurrency": "5"}, "concurrency"),
    ({"concurrency": 10**400}, "concurrency"),
    ({"concurrency": 1001}, "concurrency"),
    ({"concurrency": "declared"}, "concurrency"),
    ({"task": 7, "concurrency": 1}, "task"),
    ({"task": "", "concurrency": 1}, "task"),
    ({"task": ["x"], "concurrency": 1}, "task"),
    ({"task": "x" * 201, "concurrency": 1}, "task"),
    ({"concurrency": 1, "queue": "emails"}, "queue"),
    ({"rates": "1/s"}, "rates"),
]


@pytest.mark.parametrize(("body", "field"), BAD_FIELDS, ids=lambda v: repr(v)[:40])
def test_each_bad_field_is_a_422_naming_it_and_nothing_changes(api, body, field):
    response = put(api, body)
    assert response.status_code == 422, response.content[:200]
    error = error_of(response)
    assert error["code"] == "validation_error" and list(error["fields"]) == [field]
    assert len(error["message"]) < 200
    assert not set_limit_events()
    assert scope_of(api, None) is None


@pytest.mark.parametrize("body", [[], "x", 3, None, [{"concurrency": 1}]])
def test_a_body_that_is_not_an_object_is_a_422(api, body):
    response = put(api, body)
    assert response.status_code == 422 and list(error_of(response)["fields"]) == ["body"]


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (" ", 400),
        ("{", 400),
        ('{"concurrency": NaN}', 400),
        ('{"concurrency": 1e999}', 400),
        ("[" * 5000 + "]" * 5000, 400),
        ('{"task": "' + "x" * (1024 * 1024) + '"}', 413),
    ],
    ids=["empty", "truncated", "nan", "overflow", "deep", "huge"],
)
def test_hostile_bodies_are_refused_without_a_write(api, raw, status):
    response = put(api, None, raw=raw)
    assert response.status_code == status
    error_of(response)
    assert not set_limit_events()


def test_a_form_body_is_415(api):
    response = api.client.put(URL.format("default"), "concurrency=1",
                              content_type="application/x-www-form-urlencoded")  # fmt: skip
    assert response.status_code == 415


@pytest.mark.parametrize("task", ["", "x" * 201])
def test_delete_with_a_bad_task_is_a_422(api, task):
    response = api.client.delete(URL.format("default") + f"?task={task}")
    assert response.status_code == 422 and list(error_of(response)["fields"]) == ["task"]


def test_other_methods_are_405_with_the_allowed_ones(api):
    response = api.post("queues/default/limits", {})
    assert response.status_code == 405 and response["Allow"] == "DELETE, GET, PUT"


def test_a_tenants_limits_are_set_read_and_cleared(api, broker):
    response = put(api, {"tenant": "acme", "rate": "10/s", "concurrency": 2})
    assert response.status_code == 200, response.content
    assert response.json()["tenant"] == "acme"
    assert response.json()["limits"]["rate"] == "10/s"
    every = put(api, {"tenant": "*", "concurrency": 4}).json()
    assert every["limits"]["concurrency"] == 4
    shown = api.get("queues/default/limits").json()["limits"]["tenants"]
    assert (shown["acme"]["concurrency"], shown["*"]["concurrency"]) == (2, 4)
    assert broker.limits("default").tenants["acme"].rate == Rate(10, 1000)
    event = AuditEvent.objects.filter(action="set_limit").latest("id")
    assert event.detail["tenant"] == "*"
    cleared = delete(api, tenant="acme")
    assert cleared.status_code == 200
    assert "acme" not in api.get("queues/default/limits").json()["limits"]["tenants"]


@pytest.mark.parametrize(
    "body",
    [
        {"tenant": "a b", "rate": "1/s"},
        {"tenant": "acme\n", "rate": "1/s"},
        {"tenant": 7, "rate": "1/s"},
        {"tenant": "acme", "task": ECHO, "rate": "1/s"},
        {"tenant": "acme", "max_backlog": 5},
    ],
)
def test_a_bad_tenant_scope_is_refused_naming_the_field(api, body):
    refused = put(api, body)
    assert refused.status_code == 422
    assert set(error_of(refused)["fields"]) & {"tenant", "max_backlog"}
