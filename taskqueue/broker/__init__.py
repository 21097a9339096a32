"""The Redis broker: the only code that knows Redis keys and Lua scripts."""

from .redis_broker import Page, QueueCounts, RedisBroker

__all__ = ["Page", "QueueCounts", "RedisBroker"]
