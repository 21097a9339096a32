"""RedisBroker: the broker for Django code (the API, the console, services, the
`django.tasks` backend, the worker's heartbeat thread), on redis-py's sync client.

Its operations are declared once, in operations.py, and shared with the async broker
the worker uses; its reads are in reads.py. This module only sends what those build
(requests.py): a script, a pipeline of commands, or several scripts in one round trip.
Methods taking `now` accept epoch milliseconds for tests; by default the scripts read
Redis's clock, so clock skew between hosts cannot expire a lease early.
"""

from collections.abc import Sequence

import redis
from redis.exceptions import ResponseError

from ..conf import Config
from .cluster import StreamReads, is_cluster
from .connection import close_client
from .errors import translated
from .history import HistoryReads
from .operations import Operations
from .reads import RecordReads
from .requests import Batch, Commands, Plan, ScriptCall, batch, drive
from .scripts import Scripts, missing
from .state import StateReads
from .workflow_reads import WorkflowReads


class RedisBroker(Operations, RecordReads, StateReads, WorkflowReads, HistoryReads):
    def __init__(self, client: redis.Redis, config: Config):
        super().__init__(config)
        self.client = client
        self.scripts = Scripts(client)
        self.cluster = is_cluster(client)
        self.stream_reads = StreamReads(client) if self.cluster else None

    def perform(self, plan: Plan):
        """Run an operation's plan; Redis trouble as the engine's exceptions."""
        with translated():
            return drive(plan, self._send)

    def run_many(self, calls: Sequence[ScriptCall]) -> list:
        """Script calls in one round trip: a parsed reply, or the exception, per call."""
        return self.perform(batch(calls))

    def close(self) -> None:
        """Close the client's connections (a worker's heartbeat thread at exit)."""
        close_client(self.client)

    def _send(self, step):
        if isinstance(step, ScriptCall):
            return self._script(step)
        if isinstance(step, Commands):
            with self.client.pipeline(transaction=False) as pipe:
                step.queue(pipe)
                return pipe.execute(raise_on_error=False)
        return self._batch(step)

    def _script(self, call: ScriptCall, client=None):
        try:
            return self.scripts.run(call.script, call.keys, call.args, client)
        except ResponseError as exc:
            return exc

    def _batch(self, step: Batch) -> list:
        """One pipeline; on a cluster (redis-py does not pipeline scripts there), one
        call after the other, each failing on its own."""
        if len(step.calls) == 1:
            return [self._script(step.calls[0])]
        if self.cluster:
            return [_outcome(self._script, call) for call in step.calls]
        with self.client.pipeline(transaction=False) as pipe:
            for call in step.calls:
                self.scripts.queue(call.script, call.keys, call.args, pipe)
            replies = pipe.execute(raise_on_error=False)
        for i in missing(replies):  # Redis lost its scripts: these did not run
            replies[i] = self._script(step.calls[i])
        return replies


def _outcome(send, call):
    try:
        return send(call)
    except Exception as exc:
        return exc
