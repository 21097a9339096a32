"""Tracing across processes: the test process enqueues (through the JSON API, inside
a span standing for the web request) and `manage.py runworker` processes run the tasks
with their own TracerProvider (tests/taskapp/tracing_tasks.py), writing their spans to
files; one trace must join them."""

import json
import os
import signal
from datetime import datetime
from html import escape
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from taskqueue import tracing
from taskqueue.client import get_broker
from taskqueue.handle import TaskHandle
from taskqueue.status import Status
from tests.console.browsers import launched_chromium
from tests.support.waits import wait_for
from tests.support.web import Api, make_token, make_user
from tests.taskapp import batched_tracing, tracing_tasks

IMPORTS = json.dumps({"IMPORTS": ["tests.taskapp.tracing_tasks"]})


@pytest.fixture
def web(tmp_path):
    """The test process as the web process: tracing on, its spans in memory."""
    exporter, provider = InMemorySpanExporter(), TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.configure(provider)
    yield provider, exporter
    tracing.reset()
    provider.shutdown()


@pytest.fixture
def traced_worker(spawn_worker, tmp_path):
    """Start runworker processes whose spans land in tmp_path/spans; returns a reader."""
    folder = tmp_path / "spans"
    folder.mkdir()

    def start(*args: str):
        env = {"TASKQUEUE_EXTRA": IMPORTS, "TASKQUEUE_TEST_SPANS": str(folder)}
        return spawn_worker(*args, env=env)

    start.spans = lambda: _read(folder)
    return start


def _read(folder: Path) -> list[dict]:
    """Every whole line written so far (a worker may be writing the last one)."""
    lines = [line for f in folder.glob("*.jsonl") for line in f.read_text().split("\n")[:-1]]
    return [json.loads(line) for line in lines]


def _named(spans: list[dict], name: str) -> list[dict]:
    return [s for s in spans if s["name"] == name]


def _hex(number: int, width: int) -> str:
    return f"0x{number:0{width}x}"


@pytest.mark.django_db
def test_an_http_enqueue_and_the_worker_process_make_one_trace_to_the_inner_span(
    web, traced_worker
):
    provider, exporter = web
    traced_worker("--concurrency", "2")
    api = Api(make_token(make_user("olga", "view_console", "operate_tasks")))
    with provider.get_tracer("tests").start_as_current_span("POST /api/v1/tasks") as request:
        response = api.post("tasks", {"task": tracing_tasks.inner.name, "args": [3]})
    assert response.status_code == 201, response.content
    handle_id = response.json()["id"]
    spans = wait_for(  # the attempt's span ends last, after the body's own
        lambda: (
            (found := traced_worker.spans())
            and _named(found, "process tests.traced.inner")
            and found
        ),
        timeout=20,
        message="the worker's spans",
    )
    [send] = [s for s in exporter.get_finished_spans() if s.name.startswith("send ")]
    [process] = _named(spans, "process tests.traced.inner")
    [inner] = _named(spans, "inner work")
    trace_id = _hex(request.get_span_context().trace_id, 32)
    assert send.parent.span_id == request.get_span_context().span_id
    assert process["context"]["trace_id"] == inner["context"]["trace_id"] == trace_id
    assert process["parent_id"] == _hex(send.context.span_id, 16)
    assert inner["parent_id"] == process["context"]["span_id"]
    assert process["kind"] == "SpanKind.CONSUMER"
    assert process["attributes"]["messaging.message.id"] == handle_id
    assert process["resource"]["attributes"]["service.name"] == "worker"


def test_retries_in_worker_processes_make_one_span_per_attempt_in_the_trace(web, traced_worker):
    provider, _ = web
    traced_worker("--processes", "2", "--concurrency", "2")
    with provider.get_tracer("tests").start_as_current_span("request") as request:
        handle = tracing_tasks.flaky.enqueue()
    assert handle.result(timeout=30) == "ok"
    attempts = wait_for(
        lambda: (
            len(got := _named(traced_worker.spans(), "process tests.traced.flaky")) == 3 and got
        ),
        timeout=10,
        message="three attempt spans",
    )
    attempts.sort(key=lambda s: s["attributes"]["taskqueue.attempt"])
    trace_id = _hex(request.get_span_context().trace_id, 32)
    assert [s["context"]["trace_id"] for s in attempts] == [trace_id] * 3
    assert [s["attributes"]["taskqueue.outcome"] for s in attempts] == [
        "retry",
        "retry",
        "completed",
    ]
    assert [s["status"]["status_code"] for s in attempts] == ["ERROR", "ERROR", "OK"]


def test_a_failing_task_in_a_worker_process_has_error_status_and_the_exception(web, traced_worker):
    traced_worker()
    handle = tracing_tasks.broken.enqueue()
    wait_for(
        lambda: get_broker().get(handle.queue, handle.id).status == Status.DEAD,
        timeout=20,
        message="the task dead-lettered",
    )
    [process] = wait_for(
        lambda: _named(traced_worker.spans(), "process tests.traced.broken"),
        message="the attempt's span",
    )
    assert process["status"] == {"status_code": "ERROR", "description": "no such invoice"}
    exception = next(e for e in process["events"] if e["name"] == "exception")
    assert exception["attributes"]["exception.type"] == "ValueError"
    assert [e["name"] for e in process["events"]] == ["exception", "taskqueue.dead_lettered"]


# -- processes that leave with os._exit flush first ----------------------------------


@pytest.fixture
def batched_worker(spawn_worker, tmp_path):
    """runworker processes whose spans are batched for a minute (batched_tracing.py)."""
    folder = tmp_path / "batched"
    folder.mkdir()

    def start(*args: str):
        imports = json.dumps({"IMPORTS": ["tests.taskapp.batched_tracing"]})
        env = {"TASKQUEUE_EXTRA": imports, "TASKQUEUE_TEST_BATCHED_SPANS": str(folder)}
        return spawn_worker(*args, env=env)

    start.spans = lambda: _read(folder)
    return start


def test_a_processes_child_flushes_its_batched_spans_before_os_exit(batched_worker):
    proc = batched_worker("--processes", "2")
    handle = tracing_tasks.inner.enqueue(4)
    # 60 s: CI's cluster pass once saw no result in 30 s (2026-12-07, not reproduced in 15
    # runs); a failure now prints the workers' logs (spawn_worker), to tell slow from stuck
    assert handle.result(timeout=60) == 4
    assert _named(batched_worker.spans(), "process tests.traced.inner") == []  # still held
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    spans = batched_worker.spans()
    [process] = _named(spans, "process tests.traced.inner")
    [inner] = _named(spans, "inner work")
    assert inner["parent_id"] == process["context"]["span_id"]
    assert process["attributes"]["taskqueue.outcome"] == "completed"


def test_a_worker_leaving_a_stuck_task_thread_flushes_its_spans_before_os_exit(batched_worker):
    proc = batched_worker("--grace", "0.5")
    handle = batched_tracing.stuck.enqueue()
    wait_for(
        lambda: get_broker().get(handle.queue, handle.id).status == Status.DEAD,
        timeout=20,
        message="the task failed past its time limit",
    )
    assert _named(batched_worker.spans(), "process tests.traced.stuck") == []  # still held
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0  # os._exit: the task's thread still sleeps
    [process] = _named(batched_worker.spans(), "process tests.traced.stuck")
    assert [e["name"] for e in process["events"]] == [
        "taskqueue.time_limit",
        "exception",
        "taskqueue.dead_lettered",
    ]


# -- the docs' picture of a trace --------------------------------------------------


@pytest.mark.slow  # a browser
@pytest.mark.django_db
def test_a_real_trace_renders_as_a_waterfall_in_a_screenshot(web, traced_worker, tmp_path):
    """docs/observability.md's picture: a trace from an HTTP enqueue through two failed
    attempts and a third that completes, as exported by both processes, drawn in
    Chromium. Saved under docs/screenshots/ with TASKQUEUE_SCREENSHOTS=docs."""
    provider, exporter = web
    traced_worker("--concurrency", "2")
    api = Api(make_token(make_user("olga", "view_console", "operate_tasks")))
    warm_up = api.post("tasks", {"task": tracing_tasks.inner.name, "args": [0]}).json()["id"]
    assert TaskHandle(warm_up, "default").result(timeout=20) == 0  # a worker is serving
    with provider.get_tracer("web").start_as_current_span("POST /api/v1/tasks") as request:
        response = api.post("tasks", {"task": tracing_tasks.checkout.name, "args": [42]})
    assert response.status_code == 201, response.content
    worker_spans = wait_for(  # the attempts' spans end last, after the body's own
        lambda: (
            (found := traced_worker.spans())
            and len(_named(found, "process tests.traced.checkout")) == 3
            and found
        ),
        timeout=20,
        message="the third attempt's spans",
    )
    web_spans = [
        json.loads(s.to_json()) | {"resource": {"attributes": {"service.name": "web"}}}
        for s in exporter.get_finished_spans()
    ]
    trace_id = _hex(request.get_span_context().trace_id, 32)
    rows = trace_rows([s for s in web_spans + worker_spans if s["context"]["trace_id"] == trace_id])
    assert [(depth, s["name"]) for depth, s in rows] == [
        (0, "POST /api/v1/tasks"),
        (1, "send tests.traced.checkout"),
        (2, "process tests.traced.checkout"),
        (3, "reserve stock"),
        (2, "process tests.traced.checkout"),
        (3, "reserve stock"),
        (2, "process tests.traced.checkout"),
        (3, "reserve stock"),
        (3, "charge card"),
    ]
    folder = screenshots_dir(tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    browsers = launched_chromium()
    try:
        page = next(browsers).new_page(viewport={"width": 1200, "height": 400})
        page.set_content(waterfall(rows))
        assert page.locator(".row").count() == len(rows)
        page.screenshot(path=folder / "trace.png", full_page=True)
    finally:
        browsers.close()


def screenshots_dir(tmp_path: Path) -> Path:
    docs = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    return docs if os.environ.get("TASKQUEUE_SCREENSHOTS") == "docs" else tmp_path


def trace_rows(spans: list[dict]) -> list[tuple[int, dict]]:
    """Depth-first, children by start time: (depth, span)."""
    children: dict[str | None, list[dict]] = {}
    ids = {s["context"]["span_id"] for s in spans}
    for span in spans:
        parent = span["parent_id"] if span["parent_id"] in ids else None
        children.setdefault(parent, []).append(span)
    rows = []

    def walk(parent: str | None, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: s["start_time"]):
            rows.append((depth, span))
            walk(span["context"]["span_id"], depth + 1)

    walk(None, 0)
    return rows


def _ms(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp() * 1000


def waterfall(rows: list[tuple[int, dict]]) -> str:
    """The rows as an HTML timeline: a bar per span, a mark per event."""
    start = min(_ms(s["start_time"]) for _, s in rows)
    total = max(_ms(s["end_time"]) for _, s in rows) - start
    at = lambda ms: f"{(ms - start) / total * 100:.2f}%"  # noqa: E731
    lines = []
    for depth, span in rows:
        began, ended = _ms(span["start_time"]), _ms(span["end_time"])
        service = span["resource"]["attributes"]["service.name"]
        attrs = span["attributes"]
        details = [f"{k.split('.')[-1]}={attrs[k]}" for k in DETAILS if k in attrs]
        details += [_event_label(e) for e in span["events"]]
        marks = "".join(
            f'<i class="mark" style="left:{at(_ms(e["timestamp"]))}"></i>' for e in span["events"]
        )
        lines.append(
            f'<div class="row"><div class="label" style="padding-left:{depth * 18}px">'
            f'<b class="svc {service}">{service}</b> <span class="name">{escape(span["name"])}'
            f'</span><small>{escape(" · ".join(details))}</small></div><div class="track">'
            f'<div class="bar {span["status"]["status_code"]}" style="left:{at(began)};'
            f'width:max(2px,{(ended - began) / total * 100:.2f}%)"></div>{marks}</div>'
            f'<div class="dur">{ended - began:.1f} ms</div></div>'
        )
    trace_id = rows[0][1]["context"]["trace_id"][2:]
    return (
        f"<!doctype html><style>{STYLE}</style><h1>Trace {trace_id}</h1>"
        f"<p>{len(rows)} spans from 2 processes (web, worker), {total:.0f} ms; "
        "exported by the OpenTelemetry SDK and drawn by "
        "tests/worker/test_tracing_workers.py</p>" + "".join(lines)
    )


def _event_label(event: dict) -> str:
    attrs = event["attributes"]
    if event["name"] == "exception":
        return f"{attrs['exception.type']}: {attrs['exception.message']}"
    if event["name"] == "taskqueue.retry":
        return f"retry in {attrs['taskqueue.retry_delay_ms']} ms"
    return event["name"]


DETAILS = ("taskqueue.attempt", "taskqueue.outcome", "taskqueue.wait_ms")
STYLE = """
body { font: 13px system-ui, sans-serif; margin: 16px; color: #222; }
h1 { font-size: 16px; margin: 0 0 4px; } p { color: #666; margin: 0 0 12px; }
.row { display: grid; grid-template-columns: 560px 1fr 70px; align-items: center;
       border-top: 1px solid #eee; min-height: 34px; }
.label small { display: block; color: #777; margin-left: 54px; }
.label small:empty { display: none; }
.svc { display: inline-block; width: 50px; font-size: 11px; color: #fff; border-radius: 3px;
       text-align: center; }
.svc.web { background: #3b6fb6; } .svc.worker { background: #7a4bb0; }
.track { position: relative; height: 30px; }
.bar { position: absolute; top: 9px; height: 12px; border-radius: 2px; background: #5b9bd5; }
.bar.ERROR { background: #d9534f; } .bar.OK { background: #4cae4c; }
.mark { position: absolute; top: 7px; width: 2px; height: 16px; background: #222; }
.dur { text-align: right; color: #555; }
"""
