"""Reading workflows: one's summary and its nodes, the newest ones, and which workflows
a task belongs to. No writes. Redis contents are not trusted: a field that does not
parse reads as empty, a key of the wrong type as missing."""

import json
from collections.abc import Sequence

import redis

from ..record_fields import as_int, as_time
from ..records import WorkflowInfo, WorkflowNode
from .counters import WorkflowCounters
from .damage import unless_wrong_type
from .errors import translating
from .keys import logical_queue


class WorkflowReads:
    """Mixed into RedisBroker: needs client and keys."""

    @translating
    def workflow_info(self, workflow_id: str) -> WorkflowInfo | None:
        return self.workflow_infos([workflow_id])[0]

    @translating
    def workflow_infos(self, workflow_ids: Sequence[str]) -> list[WorkflowInfo | None]:
        with self.client.pipeline(transaction=False) as pipe:
            for workflow_id in workflow_ids:
                pipe.hgetall(self.keys.workflow(workflow_id).info)
            replies = pipe.execute(raise_on_error=False)
        return [
            _info(workflow_id, unless_wrong_type(h, {}))
            for workflow_id, h in zip(workflow_ids, replies, strict=True)
        ]

    @translating
    def workflow_nodes(self, workflow_id: str) -> list[WorkflowNode]:
        """Every node, in the order they were declared (a canvas's order)."""
        w = self.keys.workflow(workflow_id)
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hgetall(w.spec)
            pipe.hgetall(w.parents)
            pipe.hgetall(w.state)
            spec, parents, state = (
                unless_wrong_type(r, {}) for r in pipe.execute(raise_on_error=False)
            )
        nodes = []
        for key, text in spec.items():
            s = _json(text, {})
            if not isinstance(s, dict):
                continue
            nodes.append(
                WorkflowNode(
                    key=key,
                    queue=logical_queue(str(s.get("q", ""))),
                    task_id=str(s.get("id", "")),
                    state=state.get(key, ""),
                    parents=tuple(str(p) for p in _list(parents.get(key))),
                    children=tuple(str(c) for c in _list(s.get("c"))),
                )
            )
        return sorted(nodes, key=_declared_order)

    @translating
    def workflow_ids(self, offset: int = 0, limit: int = 50) -> list[str]:
        """Workflow ids, newest first."""
        try:
            return self.client.zrevrange(self.keys.workflows, offset, offset + limit - 1)
        except redis.ResponseError as exc:
            return unless_wrong_type(exc, [])

    @translating
    def workflow_counters(self) -> WorkflowCounters:
        try:
            raw = self.client.hgetall(self.keys.workflow_stats)
        except redis.ResponseError as exc:
            raw = unless_wrong_type(exc, {})
        return WorkflowCounters.of({k: as_int(v) or 0 for k, v in raw.items()})

    @translating
    def workflows_of(self, queue: str, task_id: str) -> list[tuple[str, str]]:
        """(workflow id, node) of each workflow this task belongs to or is waited for."""
        try:
            text = self.client.hget(
                self.keys.queue(self.home(queue, task_id)).task(task_id), "notify"
            )
        except redis.ResponseError as exc:
            text = unless_wrong_type(exc, None)
        pairs = _list(text)
        return [
            (p[0], p[1])
            for p in pairs
            if isinstance(p, list) and len(p) in (2, 3) and all(isinstance(v, str) for v in p[:2])
        ]


def _info(workflow_id: str, h: dict) -> WorkflowInfo | None:
    if not h:
        return None
    return WorkflowInfo(
        id=workflow_id,
        name=h.get("name", ""),
        status=h.get("status", ""),
        on_failure=h.get("on_failure", ""),
        created_at=as_time(h.get("created_at")),
        finished_at=as_time(h.get("finished_at")),
        total=as_int(h.get("total")) or 0,
        completed=as_int(h.get("completed")) or 0,
        dead=as_int(h.get("dead")) or 0,
        cancelled=as_int(h.get("cancelled")) or 0,
    )


def _json(text, default):
    if not isinstance(text, str):
        return default
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # anyone may write any field
        return default


def _list(value) -> list:
    value = _json(value, []) if isinstance(value, str) else value
    return value if isinstance(value, list) else []


def _declared_order(node: WorkflowNode):
    return (0, int(node.key), "") if node.key.isdigit() else (1, 0, node.key)
