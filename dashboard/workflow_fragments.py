"""What the workflow pages' live fragments need (fragments.KINDS registers them): a
workflow's summary, its graph, its dead and blocked tasks, a row of the list, and a
task page's "In a workflow" section. Read through taskqueue.inspect only.

A workflow's nodes are read once for all the fragments that show them (SNAPSHOTS):
reading 10,000 nodes takes a few tenths of a second, and the relay re-renders these
fragments on every event of every queue (a workflow's tasks may be in any queue).
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from taskqueue import inspect
from taskqueue.errors import TaskDoesNotExist, WorkflowDoesNotExist

from .workflow_graph import Drawing, Member, blocked_by, draw, task_url

REUSE_FACTOR = 10  # a read of the nodes is reused for ten times as long as it took,
MIN_REUSE_S = 0.25  # and at least this long (one read per relay push)
MAX_KEPT = 32  # workflows whose last read is kept
LISTED = 50  # dead tasks, blocked tasks, parents, children: the first 50 are listed
MAX_MEMBERSHIPS = 5  # workflows shown on one task's page


@dataclass(slots=True)
class Snapshot:
    workflow_id: str
    members: list[Member]
    by_key: dict[str, Member]
    read_at: float
    reuse_s: float
    _drawing: Drawing | None = None

    @property
    def drawing(self) -> Drawing:
        """The graph of these nodes, laid out once (viewers and operators share it)."""
        if self._drawing is None:
            self._drawing = draw(self.workflow_id, self.members)
        return self._drawing


class Snapshots:
    """The last read of each workflow's nodes, shared by the views and the relay."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._lock = threading.Lock()
        self._kept: dict[str, Snapshot] = {}

    def get(self, workflow_id: str, *, fresh: bool = False) -> Snapshot:
        """The nodes as last read, or read now (WorkflowDoesNotExist for a bad id)."""
        now = self.clock()
        with self._lock:
            kept = self._kept.get(workflow_id)
        if kept is not None and not fresh and now - kept.read_at < kept.reuse_s:
            return kept
        members = [Member.of(*row) for row in inspect.workflow_tasks(workflow_id)]
        reuse = max(MIN_REUSE_S, REUSE_FACTOR * (self.clock() - now))
        snap = Snapshot(workflow_id, members, {m.key: m for m in members}, now, reuse)
        with self._lock:
            self._kept.pop(workflow_id, None)
            self._kept[workflow_id] = snap
            while len(self._kept) > MAX_KEPT:
                del self._kept[next(iter(self._kept))]
        return snap

    def forget(self, workflow_id: str) -> None:
        """After an action: the next read is fresh."""
        with self._lock:
            self._kept.pop(workflow_id, None)


SNAPSHOTS = Snapshots()


def find(workflow_id: str):
    """The workflow's summary (WorkflowInfo), or None: unknown, or not an id at all."""
    try:
        return inspect.get_workflow(workflow_id)
    except WorkflowDoesNotExist:
        return None


def cancellable(info) -> bool:
    return info is not None and info.status in ("running", "blocked")


def summary_context(workflow_id: str) -> dict:
    info = find(workflow_id)
    return {"wf": info, "workflow_id": workflow_id, "cancellable": cancellable(info)}


def graph_context(workflow_id: str) -> dict:
    context = summary_context(workflow_id)
    if context["wf"] is not None:
        context["graph"] = SNAPSHOTS.get(workflow_id).drawing
    return context


def dead_context(workflow_id: str) -> dict:
    context = summary_context(workflow_id)
    if context["wf"] is not None:
        context |= dead_and_blocked(SNAPSHOTS.get(workflow_id).members)
    return context


def page_context(workflow_id: str) -> dict:
    """Everything the workflow page shows, from one fresh read."""
    snap = SNAPSHOTS.get(workflow_id, fresh=True)
    context = summary_context(workflow_id)
    return context | {"graph": snap.drawing} | dead_and_blocked(snap.members)


@dataclass(frozen=True, slots=True)
class Listed:
    """A node as a list shows it: its task's page, and what it blocks or waits for."""

    member: Member
    href: str
    keys: list[str]  # dead: the waiting children; blocked: the dead parents


def dead_and_blocked(members: list[Member]) -> dict:
    blocked = blocked_by(members)
    waiting = {m.key for m in members if m.status == "waiting"}
    dead = [m for m in members if m.status == "dead"]
    return {
        "dead": [
            Listed(m, task_url(m.task_id), [c for c in m.children if c in waiting])
            for m in dead[:LISTED]
        ],
        "dead_total": len(dead),
        "blocked": [
            Listed(m, task_url(m.task_id), blocked[m.key]) for m in members if m.key in blocked
        ][:LISTED],
        "blocked_total": len(blocked),
    }


def row_context(workflow_id: str) -> dict:
    return {"w": find(workflow_id), "workflow_id": workflow_id}


def blocked_context(_: str) -> dict:
    return {"workflows_blocked": inspect.blocked_workflows()}


# -- a task page's section: the workflows the task is a node of ---------------------


@dataclass(frozen=True, slots=True)
class Membership:
    wf: object  # WorkflowInfo
    node: Member
    parents: list[Listed]
    children: list[Listed]
    waits_for: list[Listed]  # a waiting node's parents that have not completed


def task_context(task_id: str) -> dict:
    try:
        task = inspect.get_task(task_id)
    except TaskDoesNotExist:
        return {"task_id": task_id, "memberships": []}
    return {"task_id": task_id, "memberships": memberships(task)}


def memberships(task) -> list[Membership]:
    out = []
    for workflow_id, key in inspect.workflows_of(task)[:MAX_MEMBERSHIPS]:
        info = find(workflow_id)
        node = info and SNAPSHOTS.get(workflow_id).by_key.get(key)
        if node:
            out.append(membership(info, node, SNAPSHOTS.get(workflow_id).by_key))
    return out


def membership(info, node: Member, by_key: dict[str, Member]) -> Membership:
    def listed(keys) -> list[Listed]:
        return [Listed(by_key[k], task_url(by_key[k].task_id), []) for k in keys if k in by_key]

    waits = [p for p in node.parents if p in by_key and by_key[p].status != "completed"]
    return Membership(info, node, listed(node.parents[:LISTED]), listed(node.children[:LISTED]),
                      listed(waits[:LISTED]) if node.status == "waiting" else [])  # fmt: skip
