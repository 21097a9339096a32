"""The broker for the current settings, built lazily (one per process), and brokers
for given settings (the worker builds its own, sync and asyncio).

Connection policy: broker/connection.py. `connect` and `connect_async` are re-exported
for tests and tools that need a raw client.
"""

import threading

from .broker import AsyncRedisBroker, RedisBroker, close_client, connect, connect_async
from .conf import Config, get_config

__all__ = [
    "build_async_broker",
    "build_broker",
    "close_client",
    "connect",
    "connect_async",
    "get_broker",
    "reset",
]


def build_broker(config: Config) -> RedisBroker:
    return RedisBroker(connect(config.REDIS_URL, socket_timeout=config.SOCKET_TIMEOUT), config)


def build_async_broker(config: Config) -> AsyncRedisBroker:
    return AsyncRedisBroker(connect_async(config), config)


def get_broker() -> RedisBroker:
    """The process-wide broker for settings.TASKQUEUE (rebuilt when the setting changes)."""
    global _broker
    if _broker is None:
        with _lock:
            if _broker is None:
                _broker = build_broker(get_config())
    return _broker


def reset(**_) -> None:
    global _broker
    with _lock:
        if _broker is not None:
            _broker.close()
        _broker = None


_broker: RedisBroker | None = None
_lock = threading.Lock()
