"""OpenTelemetry tracing (taskqueue/tracing.py, docs/observability.md), in one process:
the SDK's in-memory exporter behind a TracerProvider given to tracing.configure(), so
the process's global provider is never set. Real worker processes:
tests/worker/test_tracing_workers.py."""

import io
import json
import logging
import sys
import time

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from taskqueue import current_task, enqueue_many, task, tracing
from taskqueue.client import get_broker
from taskqueue.records import Claimed
from taskqueue.status import Status
from taskqueue.worker import logs
from taskqueue.worker.runner import Outcome
from taskqueue.workflows import chain, chord, group
from tests.support.waits import wait_for
from tests.support.web import Api, make_token, make_user
from tests.support.workers import background_worker, run_burst, task_env  # noqa: F401
from tests.taskapp import django_tasks as dj

FAILS_BEFORE_SUCCESS = 2
_test = {"provider": TracerProvider()}  # what tracer() draws from (never the global one)


def tracer():
    return _test["provider"].get_tracer("tests")


@pytest.fixture
def spans():
    """Tracing on, into memory; back to the undecided state afterwards."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    _test["provider"] = provider
    assert tracing.configure(provider)
    yield exporter
    tracing.reset()
    provider.shutdown()


@pytest.fixture
def untraced():
    tracing.reset()  # the global provider: none is set in the test process
    yield
    tracing.reset()


@task(name="tests.tracing.inner", max_retries=0)
def with_inner_span(value):
    with tracer().start_as_current_span("inner work"):
        return value


@task(name="tests.tracing.ainner", max_retries=0)
async def with_inner_span_async(value):
    with tracer().start_as_current_span("inner work"):
        return value


@task(name="tests.tracing.flaky", max_retries=3, retry_backoff=0.05, retry_backoff_max=0.05)
def flaky():
    if current_task().attempt <= FAILS_BEFORE_SUCCESS:
        raise ConnectionError(f"attempt {current_task().attempt} fails")
    return "ok"


@task(name="tests.tracing.broken", max_retries=0)
def broken():
    raise ValueError("no such invoice")


@task(name="tests.tracing.slow", max_retries=0, timeout=0.2)
def slow():
    while True:
        current_task().raise_if_cancelled()  # past the time limit: TaskTimeout
        time.sleep(0.01)


@task(name="tests.tracing.total", max_retries=0)
def total(values):
    return sum(values)


def by_name(exporter, name: str) -> list:
    return [s for s in exporter.get_finished_spans() if s.name == name]


def one(exporter, name: str):
    [found] = by_name(exporter, name)
    return found


# -- the trace from the enqueue to the task's own span ------------------------------


@pytest.mark.parametrize("name", ["tests.tracing.inner", "tests.tracing.ainner"])
def test_an_enqueue_and_its_attempt_make_one_trace_down_to_the_task_inner_span(spans, name):
    declared = with_inner_span if name == "tests.tracing.inner" else with_inner_span_async
    with tracer().start_as_current_span("checkout") as request:
        handle = declared.enqueue(7)
    run_burst()
    assert handle.result(timeout=5) == 7
    send, process = one(spans, f"send {name}"), one(spans, f"process {name}")
    inner = one(spans, "inner work")
    trace_id = request.get_span_context().trace_id
    assert {s.context.trace_id for s in (send, process, inner)} == {trace_id}
    assert send.parent.span_id == request.get_span_context().span_id
    assert process.parent.span_id == send.context.span_id
    assert inner.parent.span_id == process.context.span_id
    assert [link.context.span_id for link in process.links] == [send.context.span_id]
    assert send.kind == SpanKind.PRODUCER and process.kind == SpanKind.CONSUMER
    assert process.status.status_code == StatusCode.OK


def test_the_attempt_span_carries_the_messaging_attributes_and_the_wait(spans):
    handle = with_inner_span.using(queue="default").enqueue(1)
    run_burst()
    handle.result(timeout=5)
    send = one(spans, "send tests.tracing.inner")
    process = one(spans, "process tests.tracing.inner")
    assert dict(send.attributes) == {
        "messaging.system": "taskqueue",
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.destination.name": "default",
        "messaging.message.id": handle.id,
        "taskqueue.task.name": "tests.tracing.inner",
    }
    attributes = dict(process.attributes)
    wait_ms = attributes.pop("taskqueue.wait_ms")
    assert attributes == {
        "messaging.system": "taskqueue",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": "default",
        "messaging.message.id": handle.id,
        "taskqueue.task.name": "tests.tracing.inner",
        "taskqueue.attempt": 1,
        "taskqueue.outcome": "completed",
    }
    assert 0 <= wait_ms < 10_000


def test_a_batch_is_one_send_span_and_every_task_carries_its_context(spans):
    handles = enqueue_many(
        [with_inner_span.prepare(1), with_inner_span.using(queue="other").prepare(2)]
    )
    [send] = spans.get_finished_spans()
    assert send.name == "send 2 tasks"
    assert send.attributes["messaging.batch.message_count"] == 2
    assert send.attributes["taskqueue.task.name"] == "tests.tracing.inner"
    assert "messaging.destination.name" not in send.attributes  # two queues
    for handle in handles:
        traceparent = get_broker().get(handle.queue, handle.id).meta["trace"]["traceparent"]
        assert traceparent.split("-")[2] == f"{send.context.span_id:016x}"


def test_the_record_carries_the_w3c_trace_context_and_keeps_its_own_meta(spans):
    with tracer().start_as_current_span("request"):
        result = dj.add.enqueue(1, 2)
    meta = get_broker().get("default", result.id).meta
    [span] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.PRODUCER]
    traceparent = meta["trace"]["traceparent"]
    context = span.context
    assert (
        traceparent
        == f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    )
    assert meta["django"]["backend"] == "default"  # the backend's own meta is kept


def test_a_chord_callback_shares_the_members_trace_links_to_them_and_names_them(
    spans,
    background_worker,  # noqa: F811
):
    background_worker()
    with tracer().start_as_current_span("request") as request:
        handle = chord(group(with_inner_span.s(i) for i in range(3)), total.s()).enqueue()
    assert handle.result(timeout=10) == 3
    wait_for(lambda: by_name(spans, "process tests.tracing.total"), message="the callback")
    send = one(spans, "send workflow chord")
    members = by_name(spans, "process tests.tracing.inner")
    callback = one(spans, "process tests.tracing.total")
    trace_id = request.get_span_context().trace_id
    assert len(members) == 3
    assert {s.context.trace_id for s in [send, callback, *members]} == {trace_id}
    assert (
        send.kind == SpanKind.PRODUCER and send.parent.span_id == request.get_span_context().span_id
    )
    assert {s.parent.span_id for s in [callback, *members]} == {send.context.span_id}
    assert callback.links[0].context.span_id == send.context.span_id
    assert {link.context.span_id for link in callback.links[1:]} == {
        m.context.span_id for m in members
    }
    member_ids = {s.attributes["messaging.message.id"] for s in members}
    assert set(callback.attributes["taskqueue.workflow.parents"]) == member_ids
    assert callback.attributes["taskqueue.workflow.parent_count"] == 3
    workflow_ids = {s.attributes["taskqueue.workflow.id"] for s in [send, callback, *members]}
    assert workflow_ids == {handle.id}
    assert all("taskqueue.workflow.parents" not in s.attributes for s in members)


def test_a_node_with_many_parents_names_as_many_as_fit_and_counts_them_all(spans):
    handle = chord(group(with_inner_span.s(i) for i in range(40)), total.s()).enqueue()
    [output] = handle.outputs
    callback = handle.tasks[output]
    carrier = get_broker().get(callback.queue, callback.id).meta["trace"]
    named = carrier["parents"].split(",")
    assert 0 < len(named) < 40 and len(carrier["parents"]) <= tracing.MAX_PARENT_TEXT
    assert carrier["parent_count"] == 40
    assert len(json.dumps(carrier)) < tracing.MAX_CARRIER  # the worker reads it whole


def test_a_workflow_submitted_untraced_carries_no_trace_context(untraced):
    handle = chain(with_inner_span.s(1), total.si([2])).enqueue()
    for task_handle in handle.tasks.values():
        assert "trace" not in (get_broker().get(task_handle.queue, task_handle.id).meta or {})


@pytest.mark.django_db
def test_an_http_enqueue_through_the_api_continues_the_request_trace(spans):
    api = Api(make_token(make_user("olga", "view_console", "operate_tasks")))
    with tracer().start_as_current_span("POST /api/v1/tasks") as request:
        response = api.post("tasks", {"task": "tests.tracing.inner", "args": [3]})
    assert response.status_code == 201, response.content
    run_burst()
    wait_for(lambda: by_name(spans, "inner work"), message="the task's inner span")
    send = one(spans, "send tests.tracing.inner")
    process = one(spans, "process tests.tracing.inner")
    inner = one(spans, "inner work")
    assert send.parent.span_id == request.get_span_context().span_id
    assert process.parent.span_id == send.context.span_id
    assert inner.parent.span_id == process.context.span_id
    assert send.attributes["messaging.message.id"] == response.json()["id"]


# -- attempts, failures, limits ------------------------------------------------------


def test_retries_make_one_span_per_attempt_in_the_same_trace(spans, background_worker):  # noqa: F811
    background_worker()
    with tracer().start_as_current_span("request") as request:
        handle = flaky.enqueue()
    assert handle.result(timeout=10) == "ok"
    attempts = wait_for(
        lambda: len(got := by_name(spans, "process tests.tracing.flaky")) == 3 and got,
        message="three attempt spans",
    )
    attempts.sort(key=lambda s: s.attributes["taskqueue.attempt"])
    assert [s.attributes["taskqueue.attempt"] for s in attempts] == [1, 2, 3]
    assert {s.context.trace_id for s in attempts} == {request.get_span_context().trace_id}
    assert [s.attributes["taskqueue.outcome"] for s in attempts] == ["retry", "retry", "completed"]
    for failed in attempts[:2]:
        assert failed.status.status_code == StatusCode.ERROR
        assert [e.name for e in failed.events] == ["exception", "taskqueue.retry"]
        assert failed.events[1].attributes["taskqueue.retry_delay_ms"] >= 0
    assert attempts[2].status.status_code == StatusCode.OK


def test_a_failing_task_span_has_error_status_the_exception_and_the_dead_letter(spans):
    handle = broken.enqueue()
    run_burst()
    assert get_broker().get(handle.queue, handle.id).status == Status.DEAD
    process = one(spans, "process tests.tracing.broken")
    assert process.status.status_code == StatusCode.ERROR
    assert process.status.description == "no such invoice"
    exception, dead = process.events
    assert exception.name == "exception"
    assert exception.attributes["exception.type"] == "ValueError"
    assert exception.attributes["exception.message"] == "no such invoice"
    assert "raise ValueError" in exception.attributes["exception.stacktrace"]
    assert dead.name == "taskqueue.dead_lettered"
    assert process.attributes["taskqueue.outcome"] == "dead"
    assert process.attributes["error.type"] == "ValueError"


def test_a_time_limit_is_an_event_on_the_failed_attempt(spans):
    slow.enqueue()
    run_burst()
    process = one(spans, "process tests.tracing.slow")
    names = [e.name for e in process.events]
    assert names == ["taskqueue.time_limit", "exception", "taskqueue.dead_lettered"]
    assert process.events[0].attributes["taskqueue.timeout_s"] == 0.2
    assert process.attributes["error.type"] == "taskqueue.errors.TaskTimeout"


def test_a_record_with_a_broken_trace_context_runs_in_a_trace_of_its_own(spans):
    claimed = Claimed(
        "id-1", "default", 1, "tests.tracing.inner", "[1]", "{}", None, 0, 0,
        meta='{"trace": {"traceparent": "00-zzz-not-a-context", "sent_ms": "x"}}',
    )  # fmt: skip
    span = tracing.start(claimed)
    span.end()
    [finished] = spans.get_finished_spans()
    assert finished.parent is None and finished.links == ()
    assert "taskqueue.wait_ms" not in finished.attributes


def test_child_of_producer_false_starts_a_new_trace_linked_to_the_producer(spans):
    tracing.configure(tracing._state["provider"], child_of_producer=False)
    handle = with_inner_span.enqueue(1)
    run_burst()
    handle.result(timeout=5)
    send = one(spans, "send tests.tracing.inner")
    process = one(spans, "process tests.tracing.inner")
    assert process.parent is None and process.context.trace_id != send.context.trace_id
    assert [link.context.span_id for link in process.links] == [send.context.span_id]


# -- off ----------------------------------------------------------------------------


def test_with_no_tracer_provider_nothing_is_traced_and_tasks_run(untraced):
    handle = with_inner_span.enqueue(5)
    assert tracing.enabled is False  # decided at the first enqueue, for good
    assert "trace" not in (get_broker().get(handle.queue, handle.id).meta or {})
    run_burst()
    assert handle.result(timeout=5) == 5


def test_without_opentelemetry_installed_tracing_is_off_and_tasks_run(untraced, monkeypatch):
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # `import opentelemetry` fails
    assert tracing.configure(TracerProvider()) is False
    handle = with_inner_span.enqueue(6)
    run_burst()
    assert handle.result(timeout=5) == 6
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None)
    assert tracing.TraceContextFilter().filter(record) and record.trace_id == ""


def test_taskqueue_tracing_off_in_the_environment_wins_over_a_provider(monkeypatch):
    monkeypatch.setenv("TASKQUEUE_TRACING", "off")
    try:
        assert tracing.configure(TracerProvider()) is False
        handle = with_inner_span.enqueue(5)
        assert "trace" not in (get_broker().get(handle.queue, handle.id).meta or {})
    finally:
        tracing.reset()


# -- logs ---------------------------------------------------------------------------


def test_log_records_carry_the_trace_and_span_id_inside_a_span(spans):
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None)
    log_filter = tracing.TraceContextFilter()
    assert log_filter.filter(record) and (record.trace_id, record.span_id) == ("", "")
    with tracer().start_as_current_span("request") as span:
        log_filter.filter(record)
    assert record.trace_id == f"{span.get_span_context().trace_id:032x}"
    assert record.span_id == f"{span.get_span_context().span_id:016x}"
    logging.Formatter("%(trace_id)s %(span_id)s %(message)s").format(record)


@task(name="tests.tracing.logs", max_retries=0)
def logs_a_line():
    logging.getLogger("tests.tracing.worker_logs").warning("inside the task")
    return current_task().id


@pytest.fixture
def worker_lines():
    """What the worker's text and JSON handlers (worker/logs.py) write for one logger."""
    streams = {"text": io.StringIO(), "json": io.StringIO()}
    logger = logging.getLogger("tests.tracing.worker_logs")
    handlers = [logs.make_handler(kind, stream) for kind, stream in streams.items()]
    for handler in handlers:
        logger.addHandler(handler)
    yield lambda kind: streams[kind].getvalue().splitlines()
    for handler in handlers:
        logger.removeHandler(handler)


def test_worker_log_lines_inside_a_task_carry_its_trace_and_span_id(spans, worker_lines):
    handle = logs_a_line.enqueue()
    run_burst()
    assert handle.result(timeout=5) == handle.id
    context = one(spans, "process tests.tracing.logs").context
    trace_id, span_id = f"{context.trace_id:032x}", f"{context.span_id:016x}"
    [text] = worker_lines("text")
    assert text.endswith(f"] {handle.id} trace_id={trace_id} span_id={span_id} inside the task")
    [line] = worker_lines("json")
    assert json.loads(line) | {"time": "", "pid": 0} == {
        "time": "",
        "level": "WARNING",
        "logger": "tests.tracing.worker_logs",
        "pid": 0,
        "task_id": handle.id,
        "trace_id": trace_id,
        "span_id": span_id,
        "message": "inside the task",
    }


def test_worker_log_lines_outside_a_span_or_untraced_have_no_trace_fields(worker_lines):
    logger = logging.getLogger("tests.tracing.worker_logs")
    tracing.reset()  # undecided: a log line must not decide (the provider may come later)
    try:
        logger.warning("before any enqueue")
        assert tracing.enabled and tracing._state["tracer"] is None
        tracing.disable()
        handle = logs_a_line.enqueue()
        run_burst()
        assert handle.result(timeout=5) == handle.id
    finally:
        tracing.reset()
    text = worker_lines("text")
    assert [line.split(" [", 1)[1].split("] ", 1)[1] for line in text] == [
        " before any enqueue",  # no task: task_id is '', as before tracing
        f"{handle.id} inside the task",
    ]
    assert [sorted(json.loads(line)) for line in worker_lines("json")] == [
        ["level", "logger", "message", "pid", "task_id", "time"]
    ] * 2


# -- how an attempt ends, span by span ------------------------------------------------


def _attempt(spans, outcome, stop_reason=""):
    claimed = Claimed("id-2", "default", 2, "tests.tracing.inner", "[1]", "{}", 9.0, 1, 3, "")
    tracing.end(tracing.start(claimed), outcome, stop_reason, claimed.timeout)
    [finished] = spans.get_finished_spans()
    return finished


def test_a_cancelled_attempt_has_the_cancel_event_and_no_error(spans):
    finished = _attempt(spans, Outcome("cancelled"), "cancel")
    assert [e.name for e in finished.events] == ["taskqueue.cancelled"]
    assert finished.status.status_code == StatusCode.UNSET
    assert finished.attributes["taskqueue.outcome"] == "cancelled"


def test_an_attempt_whose_lease_was_lost_is_abandoned_whatever_it_returned(spans):
    finished = _attempt(spans, Outcome("completed", result="1"), "lost")
    assert [e.name for e in finished.events] == ["taskqueue.lease_lost", "taskqueue.abandoned"]
    assert finished.status.status_code == StatusCode.UNSET
    assert finished.attributes["taskqueue.outcome"] == "abandoned"


def test_a_span_is_ended_once_even_if_the_worker_decides_twice(spans):
    claimed = Claimed("id-3", "default", 1, "tests.tracing.inner", "[1]", "{}", None, 0, 0, "")
    span = tracing.start(claimed)
    tracing.end(span, Outcome("completed", result="1"))
    tracing.end(span, Outcome("abandoned"), "shutdown")
    [finished] = spans.get_finished_spans()
    assert finished.attributes["taskqueue.outcome"] == "completed"


def test_flush_exports_what_a_batch_processor_still_holds():
    exporter, provider = InMemorySpanExporter(), TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=60_000))
    tracing.configure(provider)
    try:
        tracing.start(Claimed("id-4", "default", 1, "t", "[]", "{}", None, 0, 0, "")).end()
        assert exporter.get_finished_spans() == ()
        tracing.flush()
        assert len(exporter.get_finished_spans()) == 1
    finally:
        tracing.reset()
        provider.shutdown()
