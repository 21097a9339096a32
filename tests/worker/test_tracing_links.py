"""Span links between workflow tasks (docs/observability.md, "Workflows"): a node that
waited for parents starts its span linked to each parent's completed attempt.

The test process submits (tracing on, its spans in memory); `manage.py runworker`
processes run the tasks with their own TracerProvider (tests/taskapp/tracing_tasks.py)
and write their spans to files. The broker tests at the end check the record: the
completed attempt's span context is written with its result, fenced like it, and
nothing at all is added when tracing is off."""

import itertools
import json

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from taskqueue import tracing
from taskqueue.broker.trace_ops import COMPLETED_SPAN
from taskqueue.client import get_broker
from taskqueue.workflows import chain, chord, group
from tests.factories import make_task, start
from tests.support.waits import wait_for
from tests.taskapp import tracing_tasks

IMPORTS = json.dumps({"IMPORTS": ["tests.taskapp.tracing_tasks"]})
PROCESS = "process tests.traced.inner"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def submitter():
    """The test process submits with tracing on (its spans in memory), as a web
    process would: the nodes' records carry the submission's context."""
    exporter, provider = InMemorySpanExporter(), TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.configure(provider)
    yield exporter
    tracing.reset()
    provider.shutdown()


@pytest.fixture
def traced_worker(spawn_worker, tmp_path):
    """Start runworker processes whose spans land in tmp_path/spans; `.spans()` reads them."""
    folder = tmp_path / "spans"
    folder.mkdir()

    def begin(*args: str, env: dict | None = None):
        extra = {"TASKQUEUE_EXTRA": IMPORTS, "TASKQUEUE_TEST_SPANS": str(folder)}
        return spawn_worker(*args, env=extra | (env or {}))

    def spans() -> list[dict]:  # every whole line so far (a worker may be writing one)
        lines = [line for f in folder.glob("*.jsonl") for line in f.read_text().split("\n")[:-1]]
        return [json.loads(line) for line in lines]

    begin.spans = spans
    return begin


def attempt_of(spans: list[dict], task_id: str) -> dict | None:
    found = [s for s in spans if s["name"] == PROCESS]
    return next((s for s in found if s["attributes"]["messaging.message.id"] == task_id), None)


def finished_attempts(worker, task_ids: list[str]) -> dict[str, dict]:
    """Task id -> its attempt's span, once every one of them is written."""

    def all_written():
        spans = worker.spans()
        found = {task_id: attempt_of(spans, task_id) for task_id in task_ids}
        return found if all(found.values()) else None

    return wait_for(all_written, timeout=20, message="the attempts' spans")


def link_ids(span: dict) -> list[tuple[str, str | None]]:
    """(span id, messaging.message.id or None) of each of the span's links, in order."""
    return [
        (link["context"]["span_id"], link["attributes"].get("messaging.message.id"))
        for link in span["links"]
    ]


def send_span_id(exporter) -> str:
    [send] = [s for s in exporter.get_finished_spans() if s.name.startswith("send workflow")]
    return f"0x{send.context.span_id:016x}"


def recorded_span(task_id: str, queue: str = "default") -> str | None:
    broker = get_broker()
    return broker.client.hget(broker.keys.queue(queue).task(task_id), COMPLETED_SPAN)


def ids_in(traceparent: str | None) -> tuple[str, str] | None:
    """(trace id, span id) of a W3C traceparent, as the exported spans write them."""
    if traceparent is None:
        return None
    _, trace_id, span_id, _ = traceparent.split("-")
    return f"0x{trace_id}", f"0x{span_id}"


# -- over real worker processes ------------------------------------------------------


def test_a_chord_callback_span_links_to_each_member_attempt_span(submitter, traced_worker):
    traced_worker("--concurrency", "4")
    members = group(tracing_tasks.inner.s(i) for i in range(3))
    handle = chord(members, tracing_tasks.inner.s()).enqueue()
    assert handle.result(timeout=30) == [0, 1, 2]
    member_ids = [handle.tasks[str(i)].id for i in range(3)]
    callback_id = handle.tasks[handle.outputs[0]].id
    spans = finished_attempts(traced_worker, [*member_ids, callback_id])
    expected = [(spans[task_id]["context"]["span_id"], task_id) for task_id in member_ids]
    assert link_ids(spans[callback_id]) == [(send_span_id(submitter), None), *expected]
    for task_id in member_ids:  # what the callback's worker read them from
        context = spans[task_id]["context"]
        assert ids_in(recorded_span(task_id)) == (context["trace_id"], context["span_id"])


def test_each_chain_step_span_links_to_the_previous_step_attempt_span(submitter, traced_worker):
    traced_worker()
    handle = chain(
        tracing_tasks.inner.s(1), tracing_tasks.inner.s(), tracing_tasks.inner.s()
    ).enqueue()
    assert handle.result(timeout=30) == 1
    ids = [handle.tasks[key].id for key in ("0", "1", "2")]
    spans = finished_attempts(traced_worker, ids)
    send = send_span_id(submitter)
    assert link_ids(spans[ids[0]]) == [(send, None)]  # the first step waited for nobody
    for previous, step in itertools.pairwise(ids):
        assert link_ids(spans[step]) == [
            (send, None),
            (spans[previous]["context"]["span_id"], previous),
        ]


def test_a_depends_on_task_span_links_to_the_existing_task_attempt_span(submitter, traced_worker):
    traced_worker()
    first = tracing_tasks.inner.enqueue(5)
    assert first.result(timeout=30) == 5
    after = tracing_tasks.inner.using(depends_on=[first]).enqueue(6)
    assert after.result(timeout=30) == 6
    spans = finished_attempts(traced_worker, [first.id, after.id])
    parent = (spans[first.id]["context"]["span_id"], first.id)
    assert link_ids(spans[after.id]) == [(send_span_id(submitter), None), parent]


def test_a_callback_with_more_parents_than_the_link_limit_links_to_the_first_ones(
    submitter, traced_worker
):
    count = tracing.MAX_LINKS + 2
    traced_worker("--concurrency", "8")
    handle = chord(
        group(tracing_tasks.inner.s(i) for i in range(count)), tracing_tasks.inner.s()
    ).enqueue()
    assert handle.result(timeout=60) == list(range(count))
    member_ids = [handle.tasks[str(i)].id for i in range(count)]
    callback_id = handle.tasks[handle.outputs[0]].id
    spans = finished_attempts(traced_worker, [*member_ids, callback_id])
    links = link_ids(spans[callback_id])
    assert len(links) == tracing.MAX_LINKS  # the producer's and the first 127 members'
    kept = member_ids[: tracing.MAX_LINKS - 1]
    expected = [(spans[task_id]["context"]["span_id"], task_id) for task_id in kept]
    assert links == [(send_span_id(submitter), None), *expected]


def test_a_lower_sdk_link_limit_is_kept_and_the_producer_link_with_it(submitter, traced_worker):
    traced_worker(env={"OTEL_SPAN_LINK_COUNT_LIMIT": "3"})
    handle = chord(
        group(tracing_tasks.inner.s(i) for i in range(5)), tracing_tasks.inner.s()
    ).enqueue()
    assert handle.result(timeout=30) == list(range(5))
    member_ids = [handle.tasks[str(i)].id for i in range(5)]
    callback_id = handle.tasks[handle.outputs[0]].id
    spans = finished_attempts(traced_worker, [*member_ids, callback_id])
    expected = [(spans[task_id]["context"]["span_id"], task_id) for task_id in member_ids[:2]]
    assert link_ids(spans[callback_id]) == [(send_span_id(submitter), None), *expected]


def test_a_worker_without_tracing_records_no_span_context(submitter, spawn_worker):
    spawn_worker(env={"TASKQUEUE_EXTRA": IMPORTS})  # no TracerProvider: tracing off
    handle = chord(
        group(tracing_tasks.inner.s(i) for i in range(3)), tracing_tasks.inner.s()
    ).enqueue()
    assert handle.result(timeout=30) == [0, 1, 2]
    broker = get_broker()
    for task in handle.tasks.values():
        record = broker.client.hgetall(broker.keys.queue(task.queue).task(task.id))
        assert record["status"] == "completed"
        assert COMPLETED_SPAN not in record


# -- the record ------------------------------------------------------------------------


def test_a_completion_with_a_span_context_keeps_it_in_the_record(broker):
    with_span, without = start(broker, make_task()), start(broker, make_task())
    done = [(*with_span, "1", TRACEPARENT), (*without, "2", "")]
    assert broker.complete("default", done) == [True, True]
    assert recorded_span(with_span[0]) == TRACEPARENT
    assert recorded_span(without[0]) is None


def test_a_refused_completion_records_no_span_context(broker):
    task_id, attempt = start(broker, make_task())
    assert broker.complete("default", [(task_id, attempt + 1, "1", TRACEPARENT)]) == [False]
    assert recorded_span(task_id) is None


def test_without_span_contexts_a_completion_sends_what_it_sent_before_tracing(broker):
    plain = broker.complete.call("default", [("a", 1, "1"), ("b", 2, "2")])
    untraced = broker.complete.call("default", [("a", 1, "1", ""), ("b", 2, "2", "")])
    assert untraced.args == plain.args
    assert len(plain.args) == 4 + 2 * 3  # base, now, result TTL, events MAXLEN; 3 a task


def test_a_value_that_is_no_span_context_is_not_sent(broker):
    call = broker.complete.call("default", [("a", 1, "1", "00-not a traceparent")])
    assert call.args == broker.complete.call("default", [("a", 1, "1")]).args


def test_parent_spans_of_an_unknown_workflow_or_node_are_none(broker):
    assert broker.parent_spans("6f1c2d3e-0000-4000-8000-000000000000", "1", limit=10) == []
    assert broker.parent_spans("not a workflow id!", "1", limit=10) == []


@pytest.mark.parametrize(
    "written",
    [b"", b"garbage", b"00-" + b"z" * 32 + b"-" + b"0" * 16 + b"-01", b"\xff\xfe" * 40,
     TRACEPARENT.encode() + b"\n", b"x" * 100_000],
    ids=["empty", "text", "not-hex", "not-utf8", "trailing-newline", "100kB"],
)  # fmt: skip
def test_a_parents_span_field_that_is_no_span_context_gives_no_link(broker, redis_client, written):
    handle = chain(tracing_tasks.inner.s(1), tracing_tasks.inner.s()).enqueue()
    first = handle.tasks["0"]
    key = broker.keys.queue(first.queue).task(first.id)
    redis_client.execute_command("HSET", key, COMPLETED_SPAN, written)
    assert broker.parent_spans(handle.id, "1", limit=10) == []
    redis_client.hset(key, COMPLETED_SPAN, TRACEPARENT)  # the control: a real one links
    assert broker.parent_spans(handle.id, "1", limit=10) == [(first.id, TRACEPARENT)]


@pytest.mark.parametrize("parents", ["[[[[", "{}", '["1", 7, null]', "x" * 100_000])
def test_a_node_parent_list_written_by_someone_else_gives_no_link(broker, redis_client, parents):
    handle = chain(tracing_tasks.inner.s(1), tracing_tasks.inner.s()).enqueue()
    redis_client.hset(broker.keys.workflow(handle.id).parents, "1", parents)
    assert broker.parent_spans(handle.id, "1", limit=10) == []
