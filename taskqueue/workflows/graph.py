"""A workflow as a graph: nodes (a signature, or an existing task to wait for), their
parents in order, and how each receives its parents' results. Built from a canvas
(`from_canvas`) or from nodes and edges (`from_edges`), and checked before anything is
written: an unknown node, a cycle, too many nodes are refused with a clear error.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..conf import get_config
from ..errors import ValidationError
from ..names import is_queue_name

MAX_KEY = 100  # characters of a node key


@dataclass(frozen=True)
class Signature:
    """One task call inside a workflow (`task.s(...)`, `task.si(...)`): the task with its
    `.using()` options, its arguments, and whether it receives its parents' results."""

    caller: Any  # a definition.TaskCaller
    args: tuple
    kwargs: dict
    immutable: bool = False

    @property
    def name(self) -> str:
        return self.caller.task.name

    def using(self, **overrides) -> "Signature":
        """The same call with other enqueue options (queue, priority, timeout, ...)."""
        return replace(self, caller=self.caller.using(**overrides))

    def __repr__(self) -> str:
        return f"{self.name}.{'si' if self.immutable else 's'}(...)"


@dataclass
class Node:
    key: str
    signature: Signature | None  # None: an existing task (`task_id` in `queue`)
    parents: list[str] = field(default_factory=list)
    feed: str = "none"  # 'none', 'one' (its parent's result), 'list' (all, in order)
    task_id: str = ""
    queue: str = ""


@dataclass
class Graph:
    nodes: dict[str, Node]
    outputs: list[str]  # the nodes whose results are the workflow's (its last steps)
    kind: str = "workflow"


def from_edges(nodes: Mapping, edges: Iterable = ()) -> Graph:
    """A DAG from `{key: signature or an existing task's handle}` and (parent, child)
    pairs. A mutable signature receives its parents' results: one parent's result, or
    the list of them in the order of the edges when it has several."""
    if not isinstance(nodes, Mapping) or not nodes:
        raise ValidationError("a workflow needs at least one node.", field="nodes")
    check_size(len(nodes))
    out: dict[str, Node] = {}
    for key, value in nodes.items():
        _check_key(key)
        out[key] = _node(key, value)
    for pair in edges:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValidationError(
                f"an edge is a (parent, child) pair, not {pair!r}.", field="edges"
            )
        parent, child = pair
        for end in (parent, child):
            if end not in out:
                raise ValidationError(
                    f"edge {pair!r} names an unknown node {end!r}.", field="edges"
                )
        if out[child].signature is None:
            raise ValidationError(
                f"node {child!r} is an existing task: it cannot wait for {parent!r}.", field="edges"
            )
        if parent not in out[child].parents:
            out[child].parents.append(parent)
    for node in out.values():
        if node.signature is not None and not node.signature.immutable and node.parents:
            node.feed = "one" if len(node.parents) == 1 else "list"
    check_acyclic(out)
    has_children = {p for n in out.values() for p in n.parents}
    return Graph(out, [k for k in out if k not in has_children])


def _node(key: str, value) -> Node:
    if isinstance(value, Signature):
        return Node(key, value)
    task_id, queue = getattr(value, "id", None), getattr(value, "queue", None)
    if isinstance(task_id, str) and isinstance(queue, str) and is_queue_name(queue):
        return Node(key, None, task_id=task_id, queue=queue)
    raise ValidationError(
        f"node {key!r} must be a signature (task.s(...)) or a task handle, not "
        f"{type(value).__name__}.",
        field="nodes",
    )


def _check_key(key) -> None:
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY or not key.isprintable():
        raise ValidationError(
            f"a node key is a printable string of 1 to {MAX_KEY} characters, not {key!r}.",
            field="nodes",
        )


def check_size(n: int) -> None:
    limit = get_config().WORKFLOW_MAX_NODES
    if n > limit:
        raise ValidationError(
            f"a workflow holds at most {limit} tasks (TASKQUEUE['WORKFLOW_MAX_NODES']); "
            f"this one has more.",
            field="nodes",
        )


def check_acyclic(nodes: Mapping[str, Node]) -> None:
    """Refuse a cycle, naming the nodes on it (Kahn's algorithm, then a walk)."""
    children: dict[str, list[str]] = {k: [] for k in nodes}
    waiting = {k: len(n.parents) for k, n in nodes.items()}
    for key, node in nodes.items():
        for parent in node.parents:
            children[parent].append(key)
    ready = [k for k, n in waiting.items() if n == 0]
    seen = 0
    while ready:
        key = ready.pop()
        seen += 1
        for child in children[key]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    if seen < len(nodes):
        stuck = [k for k, n in waiting.items() if n > 0]
        shown = ", ".join(repr(k) for k in stuck[:5]) + (", ..." if len(stuck) > 5 else "")
        raise ValidationError(f"the workflow has a cycle through {shown}.", field="edges")


def children_of(nodes: Mapping[str, Node]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {k: [] for k in nodes}
    for key, node in nodes.items():
        for parent in node.parents:
            out[parent].append(key)
    return out
