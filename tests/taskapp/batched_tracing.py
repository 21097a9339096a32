"""tests/taskapp/tracing_tasks.py's tasks in worker processes whose spans are batched
for a minute (tests/worker/test_tracing_workers.py): a process that ends with
os._exit keeps none of them unless it flushes first.

TASKQUEUE_TEST_BATCHED_SPANS names the folder the spans are written to; leave
TASKQUEUE_TEST_SPANS unset, as tracing_tasks would set the provider first."""

import os
import time

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from taskqueue import task
from tests.taskapp import tracing_tasks  # its tasks are registered by this import

BATCH_DELAY_MS = 60_000  # longer than any test: only a flush exports them


def _configure_from_env() -> None:
    folder = os.environ.get("TASKQUEUE_TEST_BATCHED_SPANS")
    if folder:
        provider = TracerProvider(resource=Resource.create({"service.name": "worker"}))
        exporter = tracing_tasks.JsonLinesExporter(folder)
        provider.add_span_processor(
            BatchSpanProcessor(exporter, schedule_delay_millis=BATCH_DELAY_MS)
        )
        trace.set_tracer_provider(provider)


_configure_from_env()


@task(name="tests.traced.stuck", timeout=0.2, max_retries=0)
def stuck():
    """Past its time limit and still running: its worker ends with os._exit."""
    time.sleep(60)
