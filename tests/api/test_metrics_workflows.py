"""The workflow metrics of /metrics: created and completed workflows (the engine's
global counters), blocked ones now, and the tasks of each queue waiting for their
parents. Workflows are driven through the broker as a worker would."""

import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from taskqueue.workflows import chain
from tests.support.records import make_dead
from tests.support.tasks import echo

pytestmark = pytest.mark.django_db


def scrape(reader) -> dict[tuple, float]:
    response = reader.get("metrics")
    assert response.status_code == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.content.decode())
        for s in family.samples
    }


def run_one(broker, queue="default"):
    """Claim the queue's next task, complete it, and apply the outbox."""
    (claimed,) = broker.claim(queue, "w1", 1)
    broker.complete(queue, [(claimed.id, claimed.attempt, json.dumps(None))])
    broker.advance([queue])


def workflow_samples(got: dict) -> dict[str, float]:
    names = ("taskqueue_workflows_created_total", "taskqueue_workflows_completed_total")
    return {name: got[(name, ())] for name in (*names, "taskqueue_workflows_blocked")}


def test_workflow_metrics_are_zero_before_any_workflow(reader, broker):
    assert workflow_samples(scrape(reader)) == {
        "taskqueue_workflows_created_total": 0,
        "taskqueue_workflows_completed_total": 0,
        "taskqueue_workflows_blocked": 0,
    }


def test_created_and_completed_workflows_are_counted(reader, broker):
    chain(echo.s(1), echo.s()).enqueue()
    chain(echo.s(2)).enqueue()
    run_one(broker)
    run_one(broker)
    run_one(broker)  # the first workflow's second step: it completes
    got = workflow_samples(scrape(reader))
    assert got["taskqueue_workflows_created_total"] == 2
    assert got["taskqueue_workflows_completed_total"] == 2


def test_a_dead_task_makes_its_workflow_count_as_blocked(reader, broker):
    handle = chain(echo.s(1), echo.s()).enqueue()
    chain(echo.s(2), echo.s()).enqueue()
    make_dead(broker, handle["0"])
    broker.advance(["default"])
    got = workflow_samples(scrape(reader))
    assert got["taskqueue_workflows_blocked"] == 1
    assert got["taskqueue_workflows_completed_total"] == 0


def test_tasks_waiting_for_their_parents_are_a_status_of_each_queue(reader, broker):
    chain(echo.s(1), echo.s(), echo.s()).enqueue()
    got = scrape(reader)
    q = ("queue", "default")
    assert got[("taskqueue_queue_tasks", (q, ("status", "waiting")))] == 2
    assert got[("taskqueue_queue_tasks", (q, ("status", "pending")))] == 1
