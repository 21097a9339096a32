"""GET /api/v1/workers: the worker registry."""

import pytest

from tests.support.records import register_worker

pytestmark = pytest.mark.django_db


def test_workers_are_listed_with_live_and_lost_counts(reader, broker):
    register_worker(broker, "w-live", queues="default,emails")
    register_worker(broker, "w-lost", silent_for_s=120)
    body = reader.get("workers").json()
    assert body["counts"] == {"live": 1, "lost": 1}
    live = body["items"][0]
    assert (live["id"], live["queues"], live["lost"], live["in_flight"]) == (
        "w-live", ["default", "emails"], False, 1,
    )  # fmt: skip
    assert body["items"][1]["lost"] is True


def test_no_workers_is_an_empty_list(reader):
    assert reader.get("workers").json() == {"items": [], "counts": {"live": 0, "lost": 0}}
