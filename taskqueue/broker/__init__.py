"""The Redis broker: the only code that knows Redis keys, commands, record fields and
Lua scripts. Operations are declared once (operations.py) and performed by the sync
broker (redis_broker.py) or the worker's async one (async_broker.py); reads are in
reads.py and state.py; what they answer is typed (outcomes.py)."""

from .reads import Entry, Page
from .redis_broker import RedisBroker
from .state import QueueCounts

__all__ = ["Entry", "Page", "QueueCounts", "RedisBroker"]
