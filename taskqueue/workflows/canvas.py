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
from dataclasses import dataclass, replace
from typing import Any

from ..errors import ValidationError


@dataclass(frozen=True)
class Signature:
    """One task call inside a workflow: the task (with its `.using()` options), its
    arguments, and whether it receives its parents' results."""

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

    def enqueue(self, *, name: str = "", on_failure: str = "wait"):
        return _enqueue(self, name, on_failure)

    def __repr__(self) -> str:
        return f"{self.name}.{'si' if self.immutable else 's'}(...)"


class Canvas:
    """A chain, group or chord: `.enqueue()` submits it as one workflow."""

    kind = "workflow"

    def enqueue(self, *, name: str = "", on_failure: str = "wait"):
        """Submit the whole canvas: a WorkflowHandle (handle.py)."""
        return _enqueue(self, name, on_failure)


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
            members = tuple(members[0])  # group(generator) / group([...])
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


def _enqueue(item: Item, name: str, on_failure: str):
    from .graph import from_canvas
    from .submit import submit

    return submit(from_canvas(item), name=name or _name(item), on_failure=on_failure)


def _name(item: Item) -> str:
    if isinstance(item, Signature):
        return item.name
    return item.kind
