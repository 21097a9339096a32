"""The Redis broker: the only code that knows Redis keys, commands, record fields and
Lua scripts. Operations are declared once (operations.py) and performed by the sync
broker (redis_broker.py) or the worker's async one (async_broker.py); reads are in
reads.py and state.py; what they answer is typed (outcomes.py, codec.py's Summary and
Payload, counters.py's counter hashes). This package's names below are its outside;
its modules are its inside."""

from .async_broker import AsyncRedisBroker
from .codec import Payload, Summary
from .connection import close_client, connect, connect_async
from .counters import BucketCounts, MinuteCounts, QueueStats, WorkflowCounters
from .history import WAIT_BUCKETS, HistoryBucket
from .limit_ops import DECLARED, QueueLimits, ScopeLimits, TenantBacklogs
from .reads import Entry, Page
from .redis_broker import RedisBroker
from .server import answers, node_settings, probe
from .server_status import NodeStatus
from .state import QueueCounts

__all__ = [
    "DECLARED",
    "WAIT_BUCKETS",
    "AsyncRedisBroker",
    "BucketCounts",
    "Entry",
    "HistoryBucket",
    "MinuteCounts",
    "NodeStatus",
    "Page",
    "Payload",
    "QueueCounts",
    "QueueLimits",
    "QueueStats",
    "RedisBroker",
    "ScopeLimits",
    "Summary",
    "TenantBacklogs",
    "WorkflowCounters",
    "answers",
    "close_client",
    "connect",
    "connect_async",
    "node_settings",
    "probe",
]
