"""The Redis client and the broker for the current settings, built lazily.

Connection policy: short timeouts, TCP keepalive and a periodic health check, and at
most one quick reconnect-and-retry per command, so an unreachable Redis surfaces as
BrokerUnavailable within a few seconds instead of hanging a request or a worker.
A retried command may have run once already (the reply was lost): enqueue is then
at-least-once unless it carries an idempotency key, which makes the retry harmless.
"""

import threading

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from .broker.redis_broker import RedisBroker
from .conf import Config, get_config


def connect(url: str, *, socket_timeout: float = 5.0, **extra) -> redis.Redis:
    options = {
        "decode_responses": True,
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": socket_timeout,
        "retry": Retry(ExponentialBackoff(cap=0.2, base=0.02), 1),
        "health_check_interval": 15,
    }
    if not url.startswith("unix://"):
        options["socket_keepalive"] = True
    return redis.Redis.from_url(url, **(options | extra))


def connect_async(config: Config) -> redis.asyncio.Redis:
    """The worker's asyncio client, with the same connection policy."""
    options = {
        "decode_responses": True,
        "socket_timeout": config.SOCKET_TIMEOUT,
        "socket_connect_timeout": config.SOCKET_TIMEOUT,
        "retry": AsyncRetry(ExponentialBackoff(cap=0.2, base=0.02), 1),
        "health_check_interval": 15,
    }
    if not config.REDIS_URL.startswith("unix://"):
        options["socket_keepalive"] = True
    return redis.asyncio.Redis.from_url(config.REDIS_URL, **options)


def build_broker(config: Config) -> RedisBroker:
    return RedisBroker(connect(config.REDIS_URL, socket_timeout=config.SOCKET_TIMEOUT), config)


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
            _broker.client.close()
        _broker = None


_broker: RedisBroker | None = None
_lock = threading.Lock()
