"""The body of POST /workflows, checked node by node, and the graph it describes.

    {"name": "nightly", "on_failure": "cancel",
     "nodes": [{"key": "fetch", "task": "etl.fetch", "args": [1]},
               {"key": "load", "task": "etl.load", "pass_results": true,
                "depends_on": ["fetch"]}],
     "edges": [["fetch", "load"]]}

Everything is checked before anything is written, and each error names its field by
its path in the body (`nodes[2].options.priority`). Each node is also built as the
engine will enqueue it, so the engine's own checks (queue name, payload size, kwargs
keys) name the node too. Unlike `task.s()` in Python, a node receives its parents'
results only with `"pass_results": true`: a JSON client says so explicitly.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from taskqueue.conf import get_config
from taskqueue.definition import build_task
from taskqueue.errors import TaskNotFound, ValidationError
from taskqueue.handle import TaskHandle
from taskqueue.registry import registry
from taskqueue.workflows.canvas import Signature
from taskqueue.workflows.graph import MAX_KEY, Graph, from_edges
from taskqueue.workflows.submit import MAX_NAME

from .enqueue import (
    FINGERPRINT,
    OPTION_FIELDS,
    EnqueueRequest,
    check_fields,
    fingerprint,
    parse_options,
    task_name,
)
from .errors import ApiError, from_engine, invalid

FIELDS = ("name", "on_failure", "nodes", "edges")
NODE_FIELDS = ("key", "task", "args", "kwargs", "options", "pass_results", "depends_on")
ON_FAILURE = ("wait", "cancel")
DEFAULT_NAME = "workflow"


@dataclass(frozen=True)
class NodeRequest:
    key: str
    task: str
    args: list
    kwargs: dict
    options: dict
    pass_results: bool
    depends_on: tuple[str, ...]


@dataclass(frozen=True)
class WorkflowRequest:
    name: str
    on_failure: str
    nodes: list[NodeRequest]
    edges: list[tuple[str, str]]  # every node's depends_on first, then the body's edges
    fingerprint: str


def parse_workflow(body: object) -> WorkflowRequest:
    check_fields(body, FIELDS)
    nodes = _nodes(body.get("nodes"))
    keys = {node.key for node in nodes}
    edges = [(parent, node.key) for node in nodes for parent in node.depends_on]
    return WorkflowRequest(
        name=_name(body.get("name", DEFAULT_NAME)),
        on_failure=_on_failure(body.get("on_failure", "wait")),
        nodes=nodes,
        edges=list(dict.fromkeys(edges + _edges(body.get("edges"), keys))),
        fingerprint=fingerprint(body),
    )


def _name(name: object) -> str:
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME or not name.isprintable():
        raise invalid("name", f"name must be 1 to {MAX_NAME} printable characters.")
    return name


def _on_failure(value: object) -> str:
    if value not in ON_FAILURE:
        raise invalid("on_failure", f"on_failure must be 'wait' or 'cancel', not {value!r:.50}.")
    return value


def _nodes(value: object) -> list[NodeRequest]:
    if not isinstance(value, list) or not value:
        raise invalid("nodes", "nodes must be a non-empty list of node objects.")
    limit = get_config().WORKFLOW_MAX_NODES
    if len(value) > limit:
        raise invalid(
            "nodes",
            f"A workflow holds at most {limit} tasks (TASKQUEUE['WORKFLOW_MAX_NODES']); "
            f"this one has {len(value)}.",
        )
    nodes, index = [], {}
    for i, raw in enumerate(value):
        node = _node(raw, f"nodes[{i}]")
        if node.key in index:
            raise invalid(
                f"nodes[{i}].key",
                f"Node key {node.key!r} is also the key of nodes[{index[node.key]}]; "
                "keys must be unique.",
            )
        index[node.key] = i
        nodes.append(node)
    for i, node in enumerate(nodes):
        for parent in node.depends_on:
            if parent not in index:
                raise invalid(f"nodes[{i}].depends_on", f"depends_on names no node {parent!r}.")
    return nodes


def _node(raw: object, where: str) -> NodeRequest:
    check_fields(raw, NODE_FIELDS, where)
    key = _key(raw.get("key"), f"{where}.key")
    with at(where):
        task = task_name(raw.get("task"))
    args, kwargs = raw.get("args", []), raw.get("kwargs", {})
    if not isinstance(args, list):
        raise invalid(f"{where}.args", f"{where}.args must be a list.")
    if not isinstance(kwargs, dict):
        raise invalid(f"{where}.kwargs", f"{where}.kwargs must be an object.")
    pass_results = raw.get("pass_results", False)
    if not isinstance(pass_results, bool):
        raise invalid(f"{where}.pass_results", f"{where}.pass_results must be true or false.")
    return NodeRequest(
        key=key,
        task=task,
        args=args,
        kwargs=kwargs,
        options=_options(raw.get("options"), f"{where}.options"),
        pass_results=pass_results,
        depends_on=_keys(raw.get("depends_on"), f"{where}.depends_on"),
    )


def _key(value: object, where: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_KEY or not value.isprintable():
        raise invalid(where, f"A node key is a string of 1 to {MAX_KEY} printable characters.")
    return value


def _keys(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise invalid(where, f"{where} must be a list of node keys.")
    return tuple(dict.fromkeys(_key(item, where) for item in value))


def _options(value: object, where: str) -> dict:
    if value is None:
        return {}
    if isinstance(value, dict) and "idempotency_key" in value:
        raise invalid(
            f"{where}.idempotency_key",
            "A workflow's tasks take no idempotency_key: send an Idempotency-Key header "
            "with the whole workflow instead.",
        )
    check_fields(value, OPTION_FIELDS, where)
    with at(where):
        return parse_options(value)


def _edges(value: object, keys: set[str]) -> list[tuple[str, str]]:
    if value is None:
        return []
    message = "edges must be a list of [parent, child] pairs of node keys."
    if not isinstance(value, list):
        raise invalid("edges", message)
    for j, pair in enumerate(value):
        if not isinstance(pair, list) or len(pair) != 2:
            raise invalid(f"edges[{j}]", message)
        for end in pair:
            if not isinstance(end, str) or end not in keys:
                raise invalid(f"edges[{j}]", f"edges[{j}] names no node {end!r:.120}.")
    return [(parent, child) for parent, child in value]


def build_graph(spec: WorkflowRequest, *, idempotent: bool = False) -> Graph:
    """The workflow's graph. `idempotent`: each task keeps the body's fingerprint in its
    meta, to tell a repeated request from another one with the same Idempotency-Key."""
    meta = {FINGERPRINT: spec.fingerprint} if idempotent else {}
    signatures = {}
    for i, node in enumerate(spec.nodes):
        with at(f"nodes[{i}]"):
            task = registry.get(node.task)
            caller = task.using(**node.options, meta=meta)
            build_task(task, list(node.args), dict(node.kwargs), caller.options)  # checks
        immutable = not node.pass_results
        signatures[node.key] = Signature(caller, tuple(node.args), node.kwargs, immutable)
    return from_edges(signatures, spec.edges)


def dependent_graph(spec: EnqueueRequest, parents: list) -> Graph:
    """POST /tasks with depends_on: the task waiting for existing ones (their records),
    as one workflow - what `task.using(depends_on=...).enqueue()` makes in Python."""
    if not isinstance(spec.args, list):
        raise invalid("args", f"args must be a list, not {type(spec.args).__name__}.")
    if not isinstance(spec.kwargs, dict):
        raise invalid("kwargs", f"kwargs must be an object, not {type(spec.kwargs).__name__}.")
    caller = registry.get(spec.task).using(**spec.options)
    nodes: dict = {f"after:{r.id}": TaskHandle(r.id, r.queue) for r in parents}
    nodes["task"] = Signature(caller, tuple(spec.args), dict(spec.kwargs), immutable=True)
    return from_edges(nodes, [(key, "task") for key in nodes if key != "task"])


@contextmanager
def at(where: str) -> Iterator[None]:
    """Errors raised inside name their fields by path from the body: an engine error
    on `priority` inside nodes[2] becomes one on `nodes[2].options.priority`."""
    try:
        yield
    except ApiError as exc:
        raise _moved(exc, where) from None
    except (TaskNotFound, ValidationError) as exc:
        raise _moved(from_engine(exc), where) from None


def _moved(exc: ApiError, where: str) -> ApiError:
    def path(field: str) -> str:
        if field == "body":
            return where
        if where.endswith(".options") or field not in OPTION_FIELDS:
            return f"{where}.{field}"
        return f"{where}.options.{field}"

    fields = {path(k): f"{where}: {v}" for k, v in exc.fields.items()}
    return ApiError(exc.status, exc.code, f"{where}: {exc.message}", fields, exc.headers)
