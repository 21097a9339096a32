"""OpenTelemetry tracing, optional (docs/observability.md).

An enqueue sends a PRODUCER span ("send <task>") and writes its W3C trace context into
the task record's meta (`meta["trace"]`: traceparent, tracestate, and when it was sent);
the worker starts one CONSUMER span per attempt ("process <task>"), the child of (and
linked to) that producer span, current in the thread or coroutine running the body, so
the task's own spans (and instrumented database calls) are its children. How the
attempt ended - completed, a retry, a time limit, cancelled, dead-lettered, abandoned -
is on the span as its status, events and attributes.

Workflows: a node that waited for parents (a chain's next step, a chord's callback)
starts its span with a link to each parent's completed attempt. An attempt that
completes returns its span context from end(); the worker records it in the task's
record, and reads the parents' back before their child starts (worker/links.py), as
links are given when a span starts. At most MAX_LINKS links in all (link_limit()).

Tracing is on when `opentelemetry-api` is installed and a TracerProvider is configured
(the global one, `opentelemetry.trace.set_tracer_provider(...)`, or one given to
`configure()`). Otherwise every hook is skipped by one test of the module-level flag
`enabled`: the first use finds out (`_decide`) and sets it to False for good, until
`configure()` or `refresh()`. TASKQUEUE_TRACING=off in the environment keeps it off.

No OpenTelemetry import happens at module level: taskqueue runs without the package.
Nothing here may break an enqueue or a task: a tracing error is logged and skipped.
"""

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger("taskqueue.tracing")

# What the hot paths test. True means "on, or not decided yet": the first use decides,
# and a process without tracing pays one attribute test per enqueue and per task.
enabled = True

META_KEY = "trace"  # the record's meta: {"trace": {"traceparent": ..., "sent_ms": ...}}
SYSTEM = "taskqueue"  # messaging.system
MAX_CARRIER = 2048  # characters of trace context read back from a record (untrusted)
MAX_PARENT_TEXT = 640  # characters of a workflow node's parent task ids in its context
MAX_LINKS = 128  # links of an attempt's span, the producer's included: OpenTelemetry's default
LINK_LIMIT_ENV = "OTEL_SPAN_LINK_COUNT_LIMIT"  # the SDK's own setting, when lower
OFF_VALUES = ("0", "off", "false", "no")
TIMEOUT_TYPE = "taskqueue.errors.TaskTimeout"  # as worker/runner.py describes the error

_state: dict[str, Any] = {"tracer": None, "provider": None, "child_of_producer": True}


# -- switching on and off ------------------------------------------------------------


def configure(provider: Any = None, *, child_of_producer: bool = True) -> bool:
    """Trace with `provider` (None: the global TracerProvider) from now on; returns
    whether tracing is on. child_of_producer=False starts each attempt's span in a
    trace of its own, only linked to the producer's span (for tasks that run long
    after their request, so the request's trace does not stretch over hours)."""
    _state.update(provider=provider, child_of_producer=child_of_producer, tracer=None)
    return _decide()


def refresh() -> bool:
    """Decide again, e.g. after a TracerProvider was set past the first enqueue."""
    _state["tracer"] = None
    return _decide()


def disable() -> None:
    """Off until configure() or refresh()."""
    global enabled
    enabled = False
    _state["tracer"] = None


def reset() -> None:
    """Back to the start: the global provider, decided at the next use (tests)."""
    global enabled
    enabled = True
    _state.update(provider=None, child_of_producer=True, tracer=None)


def flush(timeout_ms: int = 5000) -> None:
    """Export the spans a batching span processor still holds: before a process ends
    without running its exit handlers (a `--processes` child leaves with os._exit)."""
    if _state["tracer"] is None:
        return
    # optional dependency, imported only once tracing is on
    from opentelemetry import trace

    provider = _state["provider"] or trace.get_tracer_provider()
    force_flush = getattr(provider, "force_flush", None)
    if force_flush is not None:
        force_flush(timeout_ms)


def _decide() -> bool:
    global enabled
    _state["tracer"] = _tracer_or_none()
    enabled = _state["tracer"] is not None
    return enabled


def _tracer_or_none() -> Any:
    if os.environ.get("TASKQUEUE_TRACING", "").strip().lower() in OFF_VALUES:
        return None
    try:
        # optional dependency: taskqueue runs without opentelemetry-api installed
        from opentelemetry import trace
    except ImportError:
        return None
    provider = _state["provider"] or trace.get_tracer_provider()
    if isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
        return None  # nobody configured a provider: nothing would be recorded
    tracer = provider.get_tracer("taskqueue")
    return None if isinstance(tracer, trace.NoOpTracer) else tracer  # OTEL_SDK_DISABLED


def _tracer() -> Any:
    if _state["tracer"] is None and enabled:
        _decide()
    return _state["tracer"]


# -- the producer ------------------------------------------------------------------


def send(tasks: Sequence[Any], send_tasks: Callable[[Sequence[Any]], Any]) -> Any:
    """Send `tasks` (NewTasks) with `send_tasks` inside a PRODUCER span whose context
    goes into each task's meta; returns what send_tasks returns."""
    tracer = _tracer()
    if tracer is None:
        return send_tasks(tasks)
    # optional dependency, imported only once tracing is on
    from opentelemetry import propagate, trace

    first = tasks[0]
    with tracer.start_as_current_span(
        f"send {first.name}" if len(tasks) == 1 else f"send {len(tasks)} tasks",
        kind=trace.SpanKind.PRODUCER,
        attributes=_send_attributes(tasks),
    ):
        carrier: dict[str, Any] = {}
        propagate.inject(carrier)
        carrier["sent_ms"] = int(time.time() * 1000)
        for new in tasks:
            new.meta = _with_trace(new.meta, carrier)
        return send_tasks(tasks)


def send_workflow(workflow: Any, submit: Callable[[Any], Any]) -> Any:
    """Submit `workflow` (a NewWorkflow) with `submit` inside a PRODUCER span
    ("send workflow <name>") whose context goes into each of its new tasks' meta, as
    send() does for a batch; returns what submit returns. Each node also carries the
    workflow's id and, when it waits for parents (a chain's next step, a chord's
    callback), their task ids: its attempt's span shows them (_workflow_attributes)."""
    tracer = _tracer()
    if tracer is None:
        return submit(workflow)
    # optional dependency, imported only once tracing is on
    from opentelemetry import propagate, trace

    own = [n for n in workflow.nodes if not n.external]  # an existing task keeps its meta
    with tracer.start_as_current_span(
        f"send workflow {workflow.name}",
        kind=trace.SpanKind.PRODUCER,
        attributes=_workflow_send_attributes(workflow, own),
    ):
        carrier: dict[str, Any] = {}
        propagate.inject(carrier)
        carrier["sent_ms"] = int(time.time() * 1000)
        carrier["workflow"] = workflow.id
        ids = {n.key: n.task.id for n in workflow.nodes}
        for node in own:
            parents = [ids[p] for p in node.parents]
            extra = _parents_carrier(node.key, parents) if parents else {}
            node.task.meta = _with_trace(node.task.meta, carrier | extra)
        return submit(workflow)


def _workflow_send_attributes(workflow: Any, own: Sequence[Any]) -> dict[str, Any]:
    attributes = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.batch.message_count": len(own),
        "taskqueue.workflow.id": workflow.id,
        "taskqueue.workflow.name": workflow.name,
    }
    queues = {n.task.queue for n in own}
    if len(queues) == 1:
        attributes["messaging.destination.name"] = queues.pop()
    return attributes


def _parents_carrier(node: str, parent_ids: list[str]) -> dict[str, Any]:
    """A node's parents in its trace context: their count, their ids as far as
    MAX_PARENT_TEXT characters go (a chord of 10,000 members names the first ones), and
    the node's key, by which the worker finds them all to link to (linked_node)."""
    named: list[str] = []
    size = 0
    for task_id in parent_ids:
        size += len(task_id) + 1
        if size > MAX_PARENT_TEXT:
            break
        named.append(task_id)
    return {"parents": ",".join(named), "parent_count": len(parent_ids), "node": node}


def _send_attributes(tasks: Sequence[Any]) -> dict[str, Any]:
    """The messaging attributes; a batch names its queue and task only if all share it."""
    first = tasks[0]
    attributes: dict[str, Any] = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
    }
    if all(t.queue == first.queue for t in tasks):
        attributes["messaging.destination.name"] = first.queue
    if all(t.name == first.name for t in tasks):
        attributes["taskqueue.task.name"] = first.name
    if len(tasks) == 1:
        attributes["messaging.message.id"] = first.id
    else:
        attributes["messaging.batch.message_count"] = len(tasks)
    return attributes


def _with_trace(meta: str, carrier: dict) -> str:
    """The meta JSON text with the trace context added (the user's own keys kept)."""
    try:
        value = json.loads(meta) if meta else {}
    except ValueError:  # built by building.py from a dict: cannot happen, but never raise
        return meta
    if not isinstance(value, dict):
        return meta
    value[META_KEY] = carrier
    return json.dumps(value, separators=(",", ":"))


# -- the worker --------------------------------------------------------------------


def start(claimed: Any, parents: Sequence[tuple[str, str]] = ()) -> Any:
    """The CONSUMER span of one attempt of a claimed task (None if tracing is off),
    not yet current anywhere: enter() makes it current where the body runs. `parents`:
    (task id, W3C traceparent) of the parents' completed attempts it links to."""
    tracer = _tracer()
    if tracer is None:
        return None
    try:
        return _start(tracer, claimed, parents)
    except Exception:  # a broken record or exporter never stops a task
        log.warning("task %.100s: could not start its span", claimed.id, exc_info=True)
        return None


def _start(tracer: Any, claimed: Any, parents: Sequence[tuple[str, str]]) -> Any:
    # optional dependency, imported only once tracing is on
    from opentelemetry import context, propagate, trace

    carrier = _carrier(claimed.meta)
    context_fields = {k: v for k, v in (carrier or {}).items() if isinstance(v, str)}
    producer = propagate.extract(context_fields) if context_fields else context.Context()
    producer_span = trace.get_current_span(producer).get_span_context()
    linked = producer_span.is_valid
    parent = producer if linked and _state["child_of_producer"] else context.Context()
    queue = claimed.logical_queue or claimed.queue
    attributes = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": queue,
        "messaging.message.id": claimed.id,
        "taskqueue.task.name": claimed.name,
        "taskqueue.attempt": claimed.attempt,
    }
    if claimed.tenant:
        attributes["taskqueue.tenant"] = claimed.tenant
    sent = carrier.get("sent_ms") if carrier else None
    if type(sent) is int:
        attributes["taskqueue.wait_ms"] = max(0, int(time.time() * 1000) - sent)
    if carrier and isinstance(carrier.get("workflow"), str):
        attributes.update(_workflow_attributes(carrier))
    links = [trace.Link(producer_span)] if linked else []
    if parents:
        links += _parent_links(parents[: link_limit()])
    return tracer.start_span(
        f"process {claimed.name}",
        context=parent,
        kind=trace.SpanKind.CONSUMER,
        links=links or None,
        attributes=attributes,
    )


def _parent_links(parents: Sequence[tuple[str, str]]) -> list[Any]:
    """A link to each parent's completed attempt, named by the parent's task id (its
    span's messaging.message.id); a context that does not parse is left out."""
    # optional dependency, imported only once tracing is on
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    w3c, links = TraceContextTextMapPropagator(), []
    for task_id, traceparent in parents:
        found = trace.get_current_span(w3c.extract({"traceparent": traceparent}))
        context = found.get_span_context()
        if context.is_valid:
            links.append(trace.Link(context, {"messaging.message.id": task_id}))
    return links


def linked_node(claimed: Any) -> tuple[str, str] | None:
    """(workflow id, node key) of a claimed task that waited for parents, whose span
    links to theirs (worker/links.py reads them); None when tracing is off, when the
    task is no such node, or when its submission was not traced (its record then
    does not name its node)."""
    meta = claimed.meta
    if not isinstance(meta, str) or '"node"' not in meta or _tracer() is None:
        return None
    carrier = _carrier(meta) or {}
    workflow, node = carrier.get("workflow"), carrier.get("node")
    count = carrier.get("parent_count")
    if isinstance(workflow, str) and isinstance(node, str) and type(count) is int and count > 0:
        return workflow, node
    return None


def link_limit() -> int:
    """How many parents an attempt's span links to at most: MAX_LINKS, or the SDK's
    lower OTEL_SPAN_LINK_COUNT_LIMIT, less one for the producer's link (the SDK keeps
    a span's last links when given more than its limit, which would drop that one)."""
    limit = MAX_LINKS
    configured = os.environ.get(LINK_LIMIT_ENV, "").strip()
    if configured.isdigit():
        limit = min(limit, int(configured))
    return max(0, limit - 1)


def _workflow_attributes(carrier: dict) -> dict[str, Any]:
    """A workflow node's attempt: its workflow, and the parents whose results it gets
    (their attempts' spans carry these ids as messaging.message.id). Its span also
    links to their completed attempts' spans, when the worker found them (start)."""
    attributes: dict[str, Any] = {"taskqueue.workflow.id": carrier["workflow"]}
    parents = carrier.get("parents")
    if isinstance(parents, str) and parents:
        attributes["taskqueue.workflow.parents"] = parents.split(",")
    count = carrier.get("parent_count")
    if type(count) is int:
        attributes["taskqueue.workflow.parent_count"] = count
    return attributes


def _carrier(meta: Any) -> dict | None:
    """The trace context a record carries, read defensively (Redis is not trusted)."""
    if not isinstance(meta, str) or META_KEY not in meta or len(meta) > 1_000_000:
        return None
    try:
        value = json.loads(meta)
    except (ValueError, RecursionError):
        return None
    found = value.get(META_KEY) if isinstance(value, dict) else None
    if not isinstance(found, dict):
        return None
    carrier = {k: v for k, v in found.items() if isinstance(k, str) and isinstance(v, str | int)}
    if sum(len(k) + len(str(v)) for k, v in carrier.items()) > MAX_CARRIER:
        return None
    return carrier


def enter(span: Any) -> Any:
    """Make `span` current in this thread or coroutine; returns what leave() takes."""
    if span is None:
        return None
    # optional dependency, imported only once tracing is on
    from opentelemetry import context, trace

    return context.attach(trace.set_span_in_context(span))


def leave(token: Any) -> None:
    if token is not None:
        # optional dependency, imported only once tracing is on
        from opentelemetry import context

        context.detach(token)


def end(span: Any, outcome: Any, stop_reason: str = "", timeout: float | None = None) -> str:
    """Close an attempt's span with what the worker decided (a worker Outcome: kind,
    error, retry_delay_ms). stop_reason is the worker's: lost, shutdown, cancel, timeout.
    Returns the span's W3C traceparent when the attempt completed (the worker records
    it with the result, for the spans of the workflow tasks that follow to link to),
    else ''."""
    if span is None or not span.is_recording():
        return ""
    try:
        _describe(span, outcome, stop_reason, timeout)
    except Exception:  # tracing never breaks a task's report
        log.warning("could not describe a task's span", exc_info=True)
    finally:
        span.end()
    if outcome.kind != "completed" or stop_reason == "lost":
        return ""
    context = span.get_span_context()
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def _describe(span: Any, outcome: Any, stop_reason: str, timeout: float | None) -> None:
    # optional dependency, imported only once tracing is on
    from opentelemetry.trace import Status, StatusCode

    kind = outcome.kind
    if stop_reason == "lost":  # the worker reports nothing: another attempt owns the task
        span.add_event("taskqueue.lease_lost")
        kind = "abandoned"
    if stop_reason == "timeout" or (outcome.error and outcome.error.type == TIMEOUT_TYPE):
        span.add_event("taskqueue.time_limit", {"taskqueue.timeout_s": float(timeout or 0)})
    if kind == "failed":
        kind = _failed(span, outcome)
        span.set_status(Status(StatusCode.ERROR, outcome.error.message[:200]))
    elif kind == "cancelled":
        span.add_event("taskqueue.cancelled")
    elif kind == "abandoned":
        span.add_event("taskqueue.abandoned", {"taskqueue.reason": stop_reason or "unknown"})
    elif kind == "completed":
        span.set_status(Status(StatusCode.OK))
    span.set_attribute("taskqueue.outcome", kind)


def _failed(span: Any, outcome: Any) -> str:
    error = outcome.error
    span.set_attribute("error.type", error.type)
    span.add_event(
        "exception",
        {
            "exception.type": error.type,
            "exception.message": error.message,
            "exception.stacktrace": error.traceback,
        },
    )
    if outcome.retry_delay_ms is None:
        span.add_event("taskqueue.dead_lettered", {"taskqueue.reason": error.type})
        return "dead"
    span.add_event("taskqueue.retry", {"taskqueue.retry_delay_ms": outcome.retry_delay_ms})
    span.set_attribute("taskqueue.retry_delay_ms", outcome.retry_delay_ms)
    return "retry"


# -- logs --------------------------------------------------------------------------


class TraceContextFilter(logging.Filter):
    """Adds `trace_id` and `span_id` (hex; '' outside a span) to every record, for a
    format such as "%(trace_id)s %(span_id)s %(message)s". Attach it to a handler.

    decides=False (the worker's logs: worker/logs.py) leaves the decision whether
    tracing is on to the first enqueue or attempt: a line logged before the project
    sets its TracerProvider must not switch tracing off for good."""

    decides = True

    def filter(self, record: logging.LogRecord) -> bool:
        record.trace_id = record.span_id = ""
        if enabled and (_tracer() if self.decides else _state["tracer"]) is not None:
            # optional dependency, imported only once tracing is on
            from opentelemetry import trace

            found = trace.get_current_span().get_span_context()
            if found.is_valid:
                record.trace_id = format(found.trace_id, "032x")
                record.span_id = format(found.span_id, "016x")
        return True
