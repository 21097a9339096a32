"""TASKQUEUE["EVENT_HOOK"] (taskqueue/events_hook.py): the callable gets the tasks a
producer enqueued and each outcome a worker reported, in a thread of its own; it can
neither block nor fail a task; a bad setting is a system check."""

import json
import logging
import time
from types import SimpleNamespace

import pytest

from taskqueue import events_hook, task
from taskqueue.broker.outcomes import Ack, Failed
from taskqueue.checks import check_event_hook
from taskqueue.conf import problems
from taskqueue.records import Claimed, TaskError
from tests.support import event_hooks, tasks
from tests.support.workers import evidence, run_burst, spawn_worker, task_env  # noqa: F401

HOOK = "tests.support.event_hooks.keep"


@task(name="tests.events.broken", max_retries=0)
def broken():
    raise ValueError("broken on purpose")


@task(name="tests.events.flaky", max_retries=2, retry_backoff=3600)
def flaky():
    raise KeyError("later")


@pytest.fixture
def hooked(settings, tq_settings):
    """EVENT_HOOK set to event_hooks.keep; returns a function that waits for delivery
    and gives what it received."""
    event_hooks.received.clear()
    settings.TASKQUEUE = tq_settings | {"EVENT_HOOK": HOOK}

    def received() -> list:
        assert events_hook.flush(5.0)
        return list(event_hooks.received)

    yield received
    events_hook.flush(5.0)


def claimed(**fields) -> Claimed:
    base = dict(id="t1", queue="default", attempt=1, name="tests.api.echo", args="[]",
                kwargs="{}", timeout=None, failures=0, max_retries=0, meta="")  # fmt: skip
    return Claimed(**(base | fields))


def outcome(kind: str, **fields) -> SimpleNamespace:
    return SimpleNamespace(**({"kind": kind, "error": None, "retry_delay_ms": None,
                               "runtime_s": 0.25} | fields))  # fmt: skip


def test_the_hook_gets_each_task_a_producer_enqueued_with_its_status(hooked):
    now = tasks.echo.enqueue(1)
    later = tasks.echo.using(delay=60, tenant="acme").enqueue(2)
    got = hooked()
    assert [(e.event, e.status, e.task_id) for e in got] == [
        ("enqueued", "pending", now.id),
        ("enqueued", "scheduled", later.id),
    ]
    assert (got[1].queue, got[1].task, got[1].tenant, got[1].source) == (
        "default", "tests.api.echo", "acme", "producer")  # fmt: skip
    assert got[0].tenant is None and got[0].attempt == 0


def test_an_enqueue_whose_idempotency_key_found_its_task_sends_no_event(hooked):
    first = tasks.echo.using(idempotency_key="order-7").enqueue(1)
    again = tasks.echo.using(idempotency_key="order-7").enqueue(1)
    assert again.id == first.id
    assert [e.task_id for e in hooked()] == [first.id]


def test_a_worker_reports_completed_retried_and_dead_outcomes(hooked):
    done, dead, retried = tasks.echo.enqueue(1), broken.enqueue(), flaky.enqueue()
    run_burst()
    by_id = {e.task_id: e for e in hooked() if e.source == "worker"}
    assert (by_id[done.id].event, by_id[done.id].status) == ("completed", "completed")
    assert by_id[done.id].runtime_s >= 0 and by_id[done.id].attempt == 1
    assert (by_id[dead.id].event, by_id[dead.id].status) == ("dead", "dead")
    assert (by_id[dead.id].error_type, by_id[dead.id].error_message) == (
        "ValueError", "broken on purpose")  # fmt: skip
    r = by_id[retried.id]
    assert (r.event, r.status, r.error_type) == ("retried", "scheduled", "KeyError")
    assert r.retry_delay_s is not None and r.retry_delay_s > 0


def test_a_cancelled_outcome_is_an_event_and_a_refused_or_abandoned_one_is_not(hooked):
    events_hook.reported(claimed(id="c"), outcome("cancelled"), Ack.RECORDED)
    events_hook.reported(claimed(id="stale"), outcome("completed"), Ack.STALE)
    events_hook.reported(claimed(id="stale2"), outcome("failed"), Failed.STALE)
    events_hook.reported(claimed(id="gone"), outcome("abandoned"), None)
    assert [(e.task_id, e.event, e.status) for e in hooked()] == [("c", "cancelled", "cancelled")]


def test_a_sub_queue_s_outcome_names_the_logical_queue(hooked):
    error = TaskError("ValueError", "no", "Traceback ...")
    events_hook.reported(claimed(queue="emails#2", logical_queue="emails"),
                         outcome("failed", error=error), Failed.DEAD)  # fmt: skip
    (event,) = hooked()
    assert (event.queue, event.event) == ("emails", "dead")


def test_an_event_is_plain_json(hooked):
    tasks.echo.enqueue(1)
    (event,) = hooked()
    assert json.loads(json.dumps(event.to_dict()))["event"] == "enqueued"


def test_a_hook_that_raises_is_logged_and_never_fails_the_task(settings, tq_settings, caplog):
    settings.TASKQUEUE = tq_settings | {"EVENT_HOOK": "tests.support.event_hooks.explode"}
    handle = tasks.echo.enqueue(1)
    with caplog.at_level(logging.ERROR, logger="taskqueue.events"):
        run_burst()
        assert events_hook.flush(5.0)
    assert handle.status == "completed"
    failures = [r for r in caplog.records if r.name == "taskqueue.events"]
    assert {r.getMessage() for r in failures} == {
        f"events hook failed on enqueued of task {handle.id}",
        f"events hook failed on completed of task {handle.id}",
    }


def test_a_slow_hook_blocks_nobody_and_a_full_buffer_drops_and_counts():
    event_hooks.received.clear()
    event_hooks.gate.clear()
    dispatcher = events_hook.Dispatcher(capacity=2)
    event = events_hook.TaskEvent(
        "enqueued", "pending", "t", "default", "x", None, 0, 0.0, "producer"
    )
    started = time.monotonic()
    accepted = [dispatcher.put(event_hooks.wait_for_gate, event) for _ in range(4)]
    assert time.monotonic() - started < 0.5  # the hook waits on the gate; put does not
    assert accepted[:2] == [True, True] and accepted[-1] is False
    assert dispatcher.dropped >= 1
    assert not dispatcher.flush(0.05)
    event_hooks.gate.set()
    assert dispatcher.flush(5.0)
    assert len(event_hooks.received) == 4 - dispatcher.dropped


def test_without_a_hook_nothing_is_buffered(monkeypatch):
    monkeypatch.setattr(events_hook, "dispatcher", lambda: pytest.fail("no hook: no dispatch"))
    assert events_hook.current_hook() is None
    tasks.echo.enqueue(1)


def test_a_hook_that_is_not_a_dotted_path_is_E020():
    assert [p[0] for p in problems({"EVENT_HOOK": "on_event"})] == ["E020"]
    assert [p[0] for p in problems({"EVENT_HOOK": ["a.b"]})] == ["E020"]
    assert problems({"EVENT_HOOK": HOOK}) == problems({"EVENT_HOOK": ""}) == []


@pytest.mark.parametrize(
    ("path", "says"),
    [("tests.support.no_such_module.hook", "cannot be imported"),
     ("tests.support.event_hooks.missing", "cannot be imported"),
     ("tests.support.event_hooks.NOT_CALLABLE", "is not callable (a int)")],
)  # fmt: skip
def test_a_hook_that_does_not_import_or_is_not_callable_is_E021(settings, path, says):
    settings.TASKQUEUE = {"EVENT_HOOK": path}
    (error,) = check_event_hook()
    assert error.id == "taskqueue.E021" and says in error.msg


def test_a_hook_that_imports_passes_the_check(settings):
    settings.TASKQUEUE = {"EVENT_HOOK": HOOK}
    assert check_event_hook() == []


@pytest.mark.django_db
def test_an_enqueue_through_the_json_api_is_an_event(hooked):
    from tests.support.web import Api, make_token, make_user

    api = Api(make_token(make_user("producer", "view_console", "operate_tasks"), ("enqueue",)))
    response = api.post("tasks", {"task": "tests.api.echo", "args": [1]})
    assert response.status_code == 201
    assert [(e.event, e.task_id) for e in hooked()] == [("enqueued", response.json()["id"])]


def test_a_runworker_process_hands_its_outcomes_to_the_hook(spawn_worker, evidence):  # noqa: F811 - fixtures
    """A real worker process, its settings naming a hook that notes each event."""
    from tests.support.waits import wait_for
    from tests.taskapp import tasks as worker_tasks

    handle = worker_tasks.fails_once.enqueue()
    extra = json.dumps({"EVENT_HOOK": "tests.support.event_hooks.to_evidence"})
    spawn_worker("--concurrency", "1", env={"TASKQUEUE_EXTRA": extra})
    notes = wait_for(lambda: len(evidence()) >= 2 and evidence(), message="two events")
    events = [json.loads(n) for n in notes]
    assert [(e["event"], e["status"], e["attempt"]) for e in events] == [
        ("retried", "scheduled", 1),
        ("completed", "completed", 2),
    ]
    assert {e["task_id"] for e in events} == {handle.id}
    assert events[0]["error_type"] == "ConnectionError" and events[0]["source"] == "worker"
