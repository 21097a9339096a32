"""The Redis broker: the only code that knows Redis keys and Lua scripts."""

from .reads import Page, QueueCounts
from .redis_broker import RedisBroker

__all__ = ["Page", "QueueCounts", "RedisBroker"]
