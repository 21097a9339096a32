"""GET /api/v1/dlq: dead letters with filters and counts per exception."""

import pytest

from tests.support.records import make_dead
from tests.support.tasks import echo, mail

pytestmark = pytest.mark.django_db


def test_dead_letters_are_listed_with_grouped_counts(reader, broker):
    value_error = make_dead(broker, echo.enqueue(1).id, error_type="ValueError")
    key_error = make_dead(broker, echo.enqueue(2).id, error_type="KeyError")
    mail_error = make_dead(broker, mail.enqueue("x"), "ValueError")
    echo.enqueue(3)  # alive: never listed
    body = reader.get("dlq").json()
    assert {t["id"] for t in body["items"]} == {value_error, key_error, mail_error}
    assert body["groups"] == {"ValueError": 2, "KeyError": 1}
    assert body["next_cursor"] is None


def test_dead_letters_filter_by_queue_name_and_exception(reader, broker):
    value_error = make_dead(broker, echo.enqueue(1).id, error_type="ValueError")
    make_dead(broker, echo.enqueue(2).id, error_type="KeyError")
    mail_error = make_dead(broker, mail.enqueue("x"), "ValueError")

    def ids(**params):
        return [t["id"] for t in reader.get("dlq", **params).json()["items"]]

    assert ids(exception="ValueError", queue="default") == [value_error]
    assert ids(name="tests.api.mail") == [mail_error]
    assert reader.get("dlq", queue="emails").json()["groups"] == {"ValueError": 1}


def test_dead_letters_page_with_a_cursor(reader, broker):
    made = {make_dead(broker, echo.enqueue(i).id) for i in range(3)}
    first = reader.get("dlq", limit=2).json()
    second = reader.get("dlq", limit=2, cursor=first["next_cursor"]).json()
    assert {t["id"] for t in first["items"] + second["items"]} == made
    assert second["next_cursor"] is None
