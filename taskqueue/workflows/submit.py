"""Submitting a workflow: every node checked and serialised first (nothing is written
before all of them pass), then written by the broker in one step in the workflow's
slot and created in the tasks' queues (broker/workflow_ops.py)."""

import gc
import json
import uuid
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from json.encoder import encode_basestring_ascii as _quote  # json.dumps(text)

from .. import tracing
from ..building import PLAIN, build_task, like
from ..client import get_broker
from ..conf import get_config
from ..errors import TaskDoesNotExist, ValidationError
from ..handle import TaskHandle
from ..options import idempotency_key as valid_idempotency_key
from ..records import NewNode, NewTask, NewWorkflow
from .graph import Graph, Node, Signature, children_of, from_edges
from .handle import WorkflowHandle

ON_FAILURE = ("wait", "cancel")
MAX_NAME = 200
IDEMPOTENT_NAMESPACE = uuid.UUID("6f1c3a5e-2b0d-4c47-9a51-0d5c2f7e8b11")


@contextmanager
def collector_paused():
    """Python's cyclic garbage collector held off while a workflow is built and sent.
    Its tens of thousands of short-lived objects (none in a cycle: reference counting
    frees them) otherwise make it walk the young objects ~60 times for a 10,000-node
    chord, and promote enough of them to set off a walk of the whole heap every other
    submission: 10-70 ms in the caller's process, before any task could start. Its
    state before is restored (a caller that turned it off keeps it off); with threads
    submitting at once, the one that found it on turns it back on when it is done."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def workflow(
    nodes: Mapping,
    edges: Iterable = (),
    *,
    name: str = "workflow",
    on_failure: str = "wait",
    idempotency_key: str | None = None,
) -> WorkflowHandle:
    """Submit a DAG in one call: `nodes` maps a key to a signature (`task.s(...)`) or
    to an existing task's handle; `edges` are (parent, child) pairs. Atomic: every
    node exists or none does."""
    with collector_paused():
        return submit(from_edges(nodes, edges), name, on_failure, idempotency_key)


def submit(
    graph: Graph, name: str, on_failure: str = "wait", idempotency_key: str | None = None
) -> WorkflowHandle:
    _check_name(name)
    if on_failure not in ON_FAILURE:
        raise ValidationError(
            f"on_failure must be 'wait' or 'cancel', not {on_failure!r}.", field="on_failure"
        )
    broker = get_broker()
    workflow_id = workflow_id_for(idempotency_key)
    if broker.cluster:
        workflow_id = broker.workflow_id_near(workflow_id, _own_queues(graph))
    _check_external(graph)
    new = NewWorkflow(workflow_id, name, on_failure, _nodes(graph, workflow_id))
    if tracing.enabled:  # off: this one test (docs/observability.md)
        submitted = tracing.send_workflow(new, broker.submit_workflow)
    else:
        submitted = broker.submit_workflow(new)
    if submitted.created:
        tasks = {
            n.key: TaskHandle(submitted.rebound.get(n.key, n.task.id), n.task.queue)
            for n in new.nodes
        }
    else:  # the same submission again: the tasks it made the first time
        tasks = {n.key: TaskHandle(n.task_id, n.queue) for n in broker.workflow_nodes(new.id)}
    return WorkflowHandle(workflow_id, tasks, graph.outputs, graph.kind, submitted.created)


def workflow_id_for(idempotency_key: str | None) -> str:
    """A new id, or the one an idempotency key always gives (the same submission sent
    twice makes one workflow). On a Redis Cluster the broker may add a suffix to it
    (workflow_id_near), the same one every time for the same queue."""
    if idempotency_key is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(IDEMPOTENT_NAMESPACE, valid_idempotency_key(idempotency_key)))


def _own_queues(graph: Graph) -> set[str]:
    """The queues the workflow's own tasks go to (each caller's queue, once)."""
    default = get_config().DEFAULT_QUEUE
    queues: dict[int, str] = {}
    for n in graph.nodes.values():
        if n.signature is not None and id(caller := n.signature.caller) not in queues:
            chosen = (caller.options.queue, caller.task.options.queue, default)
            queues[id(caller)] = next(q for q in chosen if q is not None)
    return set(queues.values())


def _nodes(graph: Graph, workflow_id: str) -> list[NewNode]:
    children = children_of(graph.nodes)
    templates: dict[tuple, NewTask] = {}  # calls with the same options -> the first's task
    limit = get_config().MAX_PAYLOAD_BYTES
    workflow_json = json.dumps(workflow_id)
    return [
        NewNode(
            n.key,
            _task(n, workflow_json, templates, limit),
            parents=list(n.parents),
            children=children[n.key],
            feed=n.feed,
            external=n.signature is None,
        )
        for n in graph.nodes.values()
    ]


def _task(node: Node, workflow_json: str, templates: dict, limit: int) -> NewTask:
    """The node's task; its options are checked once per caller, or once per task for
    its plain calls (a group of 10,000 `task.s(i)` resolves them once)."""
    if node.signature is None:
        return NewTask(node.task_id, "", node.queue, "[]", "{}", 0, 0, 0, None)
    sig = node.signature
    args = list(sig.args)
    if node.feed == "list" and not node.parents:
        args.insert(0, [])  # after an empty group: the empty list of its results
    if sig.caller.options.depends_on:
        raise ValidationError(
            f"node {node.key!r}: inside a workflow, say what a task waits for with "
            "edges (workflow(nodes, edges)), not depends_on=.",
            field="depends_on",
        )
    fed = 1 if node.parents and node.feed != "none" else 0  # its parents' result goes first
    key = _template_key(sig.caller)
    template = templates.get(key)
    if template is None:
        task = build_task(sig.caller.task, args, dict(sig.kwargs), sig.caller.options, fed)
        templates[key] = task
    else:
        task = like(template, sig.caller.task, args, sig.kwargs, limit, fed)
    task.waiting = bool(node.parents)
    task.notify = f"[[{workflow_json},{_quote(node.key)}]]"
    return task


def _template_key(caller) -> tuple:
    """Which calls share their options: one caller's (`t.using(...)` once, then its
    `.s()` many times), or every plain call of a task (`t.s()`, or `t.using()` with
    nothing overridden)."""
    if caller.options is PLAIN or caller.options == PLAIN:
        return ("plain", id(caller.task))
    return ("caller", id(caller))


def _check_external(graph: Graph) -> None:
    """An existing task named as a parent must exist (else nothing is written)."""
    broker = get_broker()
    for node in graph.nodes.values():
        if node.signature is None and broker.get(node.queue, node.task_id) is None:
            raise TaskDoesNotExist(node.task_id)


def _check_name(name: object) -> None:
    if not isinstance(name, str) or len(name) > MAX_NAME or not name.isprintable():
        raise ValidationError(
            f"a workflow's name is printable text of at most {MAX_NAME} characters.",
            field="name",
        )


def enqueue_after(caller, args: tuple, kwargs: dict) -> TaskHandle:
    """`task.using(depends_on=[...]).enqueue(...)`: the task waits for existing tasks
    (handles, or ids looked up in every queue); a workflow of it and them."""
    parents = _parents(caller.options.depends_on)
    bare = caller.using(depends_on=())
    nodes: dict = {f"after:{h.id}": h for h in parents}
    nodes["task"] = Signature(bare, tuple(args), dict(kwargs), immutable=True)
    if bare.options.idempotency_key is not None:
        raise ValidationError(
            "depends_on= and idempotency_key= cannot be combined.", field="depends_on"
        )
    edges = [(key, "task") for key in nodes if key != "task"]
    handle = workflow(nodes, edges, name=caller.task.name)
    task = handle.tasks["task"]
    task.workflow_id = handle.id
    return task


def _parents(depends_on) -> list[TaskHandle]:
    if isinstance(depends_on, (str, TaskHandle)):
        depends_on = [depends_on]
    try:
        items = list(depends_on)
    except TypeError:
        raise ValidationError(
            "depends_on takes task handles or task ids.", field="depends_on"
        ) from None
    out = []
    for item in items:
        if isinstance(item, TaskHandle):
            out.append(item)
        elif isinstance(item, str):
            record = get_broker().find(item, None)
            if record is None:
                raise TaskDoesNotExist(item)
            out.append(TaskHandle(item, record.queue))
        else:
            raise ValidationError(
                f"depends_on takes task handles or task ids, not {type(item).__name__}.",
                field="depends_on",
            )
    return list(dict.fromkeys(out))
