"""GET /api/v1/tasks: filters, search, cursor pagination, newest first."""

import pytest

from tests.support.records import make_dead
from tests.support.tasks import echo, mail
from tests.support.web import error_of

pytestmark = pytest.mark.django_db


def ids_of(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [t["id"] for t in response.json()["items"]]


def every_page(api, **params) -> list[str]:
    ids, cursor = [], None
    while True:
        body = api.get("tasks", **params, **({"cursor": cursor} if cursor else {})).json()
        ids += [t["id"] for t in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return ids


def test_the_list_is_newest_first_across_queues_and_pages(reader, broker):
    made = [
        task_id
        for i in range(7)
        for task_id, _ in broker.enqueue(
            [(echo.prepare(i) if i % 2 else mail.prepare("x"))], now=1_900_000_000_000 + i
        )
    ]
    assert every_page(reader, limit=3) == made[::-1]
    first = reader.get("tasks", limit=3).json()
    assert len(first["items"]) == 3 and first["next_cursor"]


def test_filters_by_queue_status_name_and_exception(reader, broker):
    dead = make_dead(broker, echo.enqueue(1).id, error_type="KeyError")
    pending = echo.enqueue(2).id
    emailed = mail.enqueue("a@b.c").id
    assert set(ids_of(reader.get("tasks", queue="default"))) == {dead, pending}
    assert ids_of(reader.get("tasks", status="pending", queue="default")) == [pending]
    assert ids_of(reader.get("tasks", name="tests.api.mail")) == [emailed]
    assert ids_of(reader.get("tasks", exception="KeyError")) == [dead]


def test_q_finds_a_task_by_id_or_by_part_of_its_name(reader):
    emailed = mail.enqueue("a@b.c").id
    echo.enqueue(1)
    assert ids_of(reader.get("tasks", q=emailed)) == [emailed]
    assert ids_of(reader.get("tasks", q="MAIL")) == [emailed]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "²"}, "limit"),
        ({"limit": "9" * 5000}, "limit"),  # more digits than int() takes: still a 422
        ({"status": "failed"}, "status"),
        ({"queue": "a:b"}, "queue"),
        ({"cursor": "garbage"}, "cursor"),
        ({"cursor": "nan:x"}, "cursor"),
    ],
)
def test_bad_parameters_are_422_naming_the_parameter(reader, params, field):
    response = reader.get("tasks", **params)
    assert response.status_code == 422
    assert field in error_of(response)["fields"]
