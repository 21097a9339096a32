"""What tracing keeps in Redis (docs/observability.md): the span context of a task's
completed attempt, so that the spans of the workflow tasks that follow it can link
to it.

With tracing on, `complete` (operations.py) writes the attempt's W3C traceparent
into the record's COMPLETED_SPAN field, in the same script as the result
(complete_tasks.lua), so a child released by that completion always finds it. A
child's attempt reads its parents' back with `parent_spans` before its span starts.
With tracing off nothing is written and nothing is read.
"""

import json
import re

from .requests import Commands, Plan, commands, operation
from .workflow_ops import _valid_workflow_id

COMPLETED_SPAN = "completed_span"  # the record's field (complete_tasks.lua spells it too)
SPAN_NONE = "-"  # complete_tasks.lua's placeholder for a task without a span context
TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
MAX_PARENTS_TEXT = 4 * 1024 * 1024  # a node's parent list longer than this is not parsed


def is_traceparent(value: object) -> bool:
    return isinstance(value, str) and TRACEPARENT.fullmatch(value) is not None


class TraceOperations:
    """Mixed into Operations (needs keys)."""

    @operation
    def parent_spans(
        self, workflow_id: str, node: str, *, limit: int
    ) -> Plan[list[tuple[str, str]]]:
        """The span contexts the completed attempts of a workflow node's first `limit`
        parents (in the order the workflow declares them) recorded: (task id, W3C
        traceparent) each, for those that recorded one and still exist. Three round
        trips: the node's parents, where their tasks live (the workflow's slot), their
        records (their queues' slots). Redis contents are not trusted: what does not
        parse is left out."""
        if limit <= 0 or not _valid_workflow_id(workflow_id):
            return []
        w = self.keys.workflow(workflow_id)
        [text] = yield from commands(Commands(lambda pipe: pipe.hget(w.parents, node)))
        parents = _names(text, limit)
        if not parents:
            return []
        [specs] = yield from commands(Commands(lambda pipe: pipe.hmget(w.spec, parents)))
        tasks = [found for found in map(self._task_of, specs) if found is not None]
        if not tasks:
            return []

        def read(pipe) -> None:
            for task_key, _ in tasks:
                pipe.hget(task_key, COMPLETED_SPAN)

        replies = yield Commands(read)  # raw: a damaged record costs its own link only
        return [
            (task_id, span)
            for (_, task_id), span in zip(tasks, replies, strict=True)
            if is_traceparent(span)
        ]

    def _task_of(self, spec: str | None) -> tuple[str, str] | None:
        """(record key, task id) of a node's spec in its workflow (workflow.lua's
        spec: {q: storage queue, id: task id, ...}), None if it does not parse."""
        value = _json(spec)
        if not isinstance(value, dict):
            return None
        queue, task_id = value.get("q"), value.get("id")
        if not isinstance(queue, str) or not isinstance(task_id, str) or not task_id:
            return None
        try:
            return self.keys.queue(queue).task(task_id), task_id
        except Exception:  # not a queue name: a spec written by someone else
            return None


def _names(text: str | None, limit: int) -> list[str]:
    """The first `limit` node keys of a JSON list of them."""
    value = _json(text)
    if not isinstance(value, list):
        return []
    return [name for name in value if isinstance(name, str)][:limit]


def _json(text: str | None):
    if not isinstance(text, str) or len(text) > MAX_PARENTS_TEXT:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None
