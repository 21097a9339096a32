"""Workflows run by real worker processes (`manage.py runworker`) on the private Redis."""

from taskqueue.inspect import get_workflow
from taskqueue.workflows import chain, chord, group, workflow
from tests.support.waits import wait_for
from tests.taskapp.tasks import echo
from tests.taskapp.workflow_tasks import add, collect, slow_first_attempt


def test_a_chord_of_1000_members_gets_1000_results_in_order(spawn_worker):
    spawn_worker("--queues", "default", "--concurrency", "8")
    handle = chord(group(add.s(i, 0) for i in range(1000)), collect.s()).enqueue()
    assert handle.result(timeout=120) == {"count": 1000, "first": 0, "last": 999, "ordered": True}
    # the workflow hears of its callback's completion right after the result is stored
    wait_for(lambda: get_workflow(handle.id).status == "completed", 10, "the workflow to finish")


def test_a_chain_of_100_steps_passes_each_value_on(spawn_worker):
    spawn_worker("--queues", "default")
    handle = chain(add.s(0, 1), *(add.s(1) for _ in range(99))).enqueue()
    assert handle.result(timeout=120) == 100


def test_parents_and_children_in_different_queues(spawn_worker):
    spawn_worker("--queues", "default,other")
    handle = workflow(
        {
            "a": echo.using(queue="other").s("a"),
            "b": echo.s("b"),
            "c": echo.using(queue="other").s(),
        },
        [("a", "c"), ("b", "c")],
    )
    assert handle["c"].result(timeout=30) == ["a", "b"]  # echo([result of a, of b])


def test_nesting_a_chord_inside_a_chain(spawn_worker):
    spawn_worker("--queues", "default", "--concurrency", "4")
    inner = chord(group(add.s(i) for i in range(3)), collect.s())
    handle = chain(add.s(1, 1), inner, echo.s()).enqueue()
    # add(1, 1) = 2; each member add(2, i); collect gets [2, 3, 4]
    assert handle.result(timeout=30) == {"count": 3, "first": 2, "last": 4, "ordered": True}


def test_a_sigkilled_worker_loses_no_child(spawn_worker):
    """The worker running the parent dies before reporting; after its lease expires
    another worker runs the parent again and the child starts once."""
    doomed = spawn_worker("--queues", "default", lease=1.0)
    handle = chain(slow_first_attempt.si("parent"), echo.s()).enqueue()
    wait_for(lambda: handle["0"].status == "processing", 15, "the parent to start")
    doomed.kill()
    spawn_worker("--queues", "default", lease=1.0)
    assert handle.result(timeout=30) == "parent"
    assert handle["0"].record().lost == 1
    assert handle["1"].record().attempts == 1


def test_a_completion_left_in_the_outbox_is_applied_by_a_workers_sweep(broker, spawn_worker):
    """The worker that recorded the parent's completion died before applying its
    outbox entry: another worker's maintenance sweep applies it."""
    handle = chain(echo.si("parent"), echo.s()).enqueue()
    (claimed,) = broker.claim("default", "dead-worker", 1)
    broker.complete("default", [(claimed.id, claimed.attempt, '"parent"')])
    assert handle["1"].status == "waiting"
    spawn_worker("--queues", "default")
    assert handle["1"].result(timeout=20) == "parent"
