"""Span links from a workflow node's attempt to its parents' (docs/observability.md).

With tracing on, a task that waited for parents (a chain's next step, a chord's
callback) starts its span with a link to each parent's completed attempt, whose span
context that parent's completion recorded (broker/trace_ops.py). A span's links are
given when it starts, so the worker reads them between the claim and the start:
three round trips per such task (the reads of several run at once), at most
READ_TIMEOUT_S. A read that fails costs the attempt its links, nothing else. Any
other task, and every task when tracing is off, costs nothing here.
"""

import asyncio
import logging
from collections.abc import Sequence

from .. import tracing
from .runner import Running

log = logging.getLogger("taskqueue.worker")
READ_TIMEOUT_S = 1.0


async def read_parents(broker, held: Sequence[Running]) -> None:
    """Set `parents` of each held task whose span links to its parents' (its runner
    starts the span with them: tracing.start)."""
    nodes = [(r, found) for r in held if (found := tracing.linked_node(r.claimed)) is not None]
    limit = tracing.link_limit()
    if not nodes or limit <= 0:
        return
    reads = [broker.parent_spans(workflow, node, limit=limit) for _, (workflow, node) in nodes]
    try:
        async with asyncio.timeout(READ_TIMEOUT_S):
            replies = await asyncio.gather(*reads, return_exceptions=True)
    except TimeoutError:
        replies = [TimeoutError(f"no answer within {READ_TIMEOUT_S} s")] * len(nodes)
    for (running, _), reply in zip(nodes, replies, strict=True):
        if isinstance(reply, Exception):
            log.warning(
                "task %.100s: its span has no links to its parents': %s", running.claimed.id, reply
            )
        else:
            running.parents = tuple(reply)
