"""The canvas: signatures, chains, groups and chords (Celery's names and conventions).

    chain(resize.s(path), upload.s(), notify.si("done")).enqueue()
    group(render.s(page) for page in pages).enqueue().results(timeout=60)
    chord(group(render.s(p) for p in pages), zip_pages.s()).enqueue()

A mutable signature (`task.s(...)`) receives its parent's result as its first argument
(the list of its parents' results after a group); an immutable one (`task.si(...)`)
runs with its own arguments only. Each `.enqueue()` submits one workflow (submit.py):
every task exists or none does.
"""

from collections.abc import Iterable

from ..errors import ValidationError
from .graph import Graph, Node, Signature, check_size
from .submit import collector_paused, submit


class Canvas:
    """A chain, group or chord: `.enqueue()` submits it as one workflow."""

    kind = "workflow"

    def enqueue(self, *, name: str = "", on_failure: str = "wait"):
        """Submit the whole canvas: a WorkflowHandle (handle.py)."""
        return enqueue_item(self, name, on_failure)


class chain(Canvas):  # noqa: N801 - Celery's name
    """Each step runs after the previous one completed, with its result."""

    kind = "chain"

    def __init__(self, *steps):
        self.steps = _items(steps, "chain")


class group(Canvas):  # noqa: N801
    """Members run in parallel; after a group, the next step gets the list of their
    results in the group's order."""

    kind = "group"

    def __init__(self, *members):
        if len(members) == 1 and not isinstance(members[0], (Signature, Canvas)):
            try:
                members = tuple(members[0])  # group(generator) / group([...])
            except TypeError:
                raise ValidationError(
                    f"a group takes signatures or an iterable of them, not "
                    f"{type(members[0]).__name__}.",
                    field="workflow",
                ) from None
        self.members = _items(members, "group", allow_empty=True)


class chord(Canvas):  # noqa: N801
    """A group, then a callback that receives the list of the group's results."""

    kind = "chord"

    def __init__(self, header, body):
        self.header = header if isinstance(header, group) else group(header)
        (self.body,) = _items((body,), "chord callback")


Item = Signature | Canvas


def _items(items: Iterable, what: str, allow_empty: bool = False) -> tuple:
    out = tuple(items)
    for item in out:
        if not isinstance(item, (Signature, Canvas)):
            raise ValidationError(
                f"a {what} takes signatures (task.s(...), task.si(...)) or other chains, "
                f"groups and chords, not {type(item).__name__}.",
                field="workflow",
            )
    if not out and not allow_empty:
        raise ValidationError(f"a {what} needs at least one step.", field="workflow")
    return out


def enqueue_item(item: Item, name: str, on_failure: str):
    with collector_paused():
        return submit(from_canvas(item), name=name or _name(item), on_failure=on_failure)


def from_canvas(item) -> Graph:
    nodes: dict[str, Node] = {}

    def add(item, parents: list[str], after_group: bool) -> tuple[list[str], bool]:
        """Add `item` after `parents`: (its last nodes, whether it ends in a group)."""
        if isinstance(item, Signature):
            key = str(len(nodes))
            nodes[key] = Node(key, item, list(parents), _feed(item, parents, after_group))
            check_size(len(nodes))
            return [key], False
        if isinstance(item, chain):
            ends, is_group = parents, after_group
            for step in item.steps:
                ends, is_group = add(step, ends, is_group)
            return ends, is_group
        if isinstance(item, group):
            ends: list[str] = []
            for member in item.members:
                ends += add(member, parents, after_group)[0]
            return ends, True
        if isinstance(item, chord):
            ends, _ = add(item.header, parents, after_group)
            return add(item.body, ends, True)
        raise ValidationError(f"not a workflow item: {type(item).__name__}.", field="workflow")

    outputs, _ = add(item, [], False)
    kind = item.kind if isinstance(item, Canvas) else "workflow"
    return Graph(nodes, outputs, kind)


def _feed(sig: Signature, parents: list[str], after_group: bool) -> str:
    if sig.immutable:
        return "none"
    if after_group:
        return "list"
    return "one" if parents else "none"


def _name(item: Item) -> str:
    if isinstance(item, Signature):
        return item.name
    return item.kind
