"""Tasks the tracing tests run in real worker processes (tests/worker/test_tracing_workers.py).

The workers import this module through TASKQUEUE["IMPORTS"]; with TASKQUEUE_TEST_SPANS
naming a folder in their environment, it sets the process's global TracerProvider (as a
project would in its settings) with an exporter that appends each finished span, as
one JSON line, to a file of that process in the folder, for the test to read."""

import json
import os
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from taskqueue import current_task, task

FAILS_BEFORE_SUCCESS = 2


class JsonLinesExporter(SpanExporter):
    def __init__(self, folder: str):
        self.folder = Path(folder)

    def export(self, spans) -> SpanExportResult:
        with open(self.folder / f"spans-{os.getpid()}.jsonl", "a") as out:
            out.writelines(json.dumps(json.loads(s.to_json())) + "\n" for s in spans)
        return SpanExportResult.SUCCESS


def _configure_from_env() -> None:
    folder = os.environ.get("TASKQUEUE_TEST_SPANS")
    if folder:
        provider = TracerProvider(resource=Resource.create({"service.name": "worker"}))
        provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(folder)))
        trace.set_tracer_provider(provider)


_configure_from_env()


@task(name="tests.traced.inner", max_retries=0)
def inner(value):
    with trace.get_tracer("tests.taskapp").start_as_current_span("inner work"):
        return value


@task(name="tests.traced.flaky", max_retries=3, retry_backoff=0.05, retry_backoff_max=0.05)
def flaky():
    if current_task().attempt <= FAILS_BEFORE_SUCCESS:
        raise ConnectionError(f"attempt {current_task().attempt} fails")
    return "ok"


@task(name="tests.traced.broken", max_retries=0)
def broken():
    raise ValueError("no such invoice")


@task(name="tests.traced.checkout", max_retries=3, retry_backoff=0.05, retry_backoff_max=0.05)
def checkout(order: int):
    """The docs' trace: the payment gateway fails twice, the third attempt does the work."""
    tracer = trace.get_tracer("tests.taskapp")
    with tracer.start_as_current_span("reserve stock"):
        pass
    if current_task().attempt <= FAILS_BEFORE_SUCCESS:
        raise ConnectionError("payment gateway timed out")
    with tracer.start_as_current_span("charge card"):
        return order
