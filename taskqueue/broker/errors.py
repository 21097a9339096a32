"""Redis errors leave the broker as the engine's exceptions (raise ... from None).

Connection trouble, replies that mean "Redis cannot take this now" (out of memory
under noeviction, still loading its data after a restart, a read-only replica, a
cluster with a slot not served during a fail-over...) and a cluster that cannot be
reached become BrokerUnavailable: the API answers 503 and the worker retries later.
"""

import contextlib
import functools

import redis
from redis.exceptions import RedisClusterException

from ..errors import BrokerUnavailable, DamagedKey

CONNECTION_ERRORS = (redis.ConnectionError, redis.TimeoutError, ConnectionError, TimeoutError)
REFUSALS = (
    "OOM",
    "LOADING",
    "READONLY",
    "MASTERDOWN",
    "BUSY",
    "NOREPLICAS",
    "TRYAGAIN",
    "CLUSTERDOWN",
)


def is_refusal(exc: redis.ResponseError) -> bool:
    return str(exc).split(" ", 1)[0] in REFUSALS or isinstance(
        exc, (redis.exceptions.OutOfMemoryError, redis.exceptions.ReadOnlyError)
    )


def cluster_trouble(exc: RedisClusterException) -> bool:
    """A cluster that cannot be reached or has slots uncovered (during a fail-over),
    not a programming error such as keys of different slots in one command."""
    return "same key slot" not in str(exc) and "CROSSSLOT" not in str(exc)


def unavailable(exc: BaseException) -> BrokerUnavailable:
    return BrokerUnavailable(f"Redis is unavailable: {exc or type(exc).__name__}")


def is_wrong_type(exc: redis.ResponseError) -> bool:
    """A command met a key of another type (a pipeline's error names its command first)."""
    message = str(exc)
    return message.startswith("WRONGTYPE") or "caused error: WRONGTYPE" in message


def wrong_type(exc: redis.ResponseError) -> DamagedKey:
    """A command met a key of the wrong type outside the scripts' own checks (damage.py):
    a clear error instead of a crash, though Redis does not say which key."""
    return DamagedKey(f"A Redis key has the wrong type: {exc}", [])


def engine_error(exc: redis.ResponseError) -> Exception:
    """The engine's exception for an error reply of a plain command, or exc itself."""
    if is_refusal(exc):
        return unavailable(exc)
    if is_wrong_type(exc):
        return wrong_type(exc)
    return exc


def engine_exception(exc: BaseException) -> BaseException:
    """The engine's exception for any exception a Redis call raised, or exc itself."""
    if isinstance(exc, CONNECTION_ERRORS):
        return unavailable(exc)
    if isinstance(exc, redis.ResponseError):
        return engine_error(exc)
    if isinstance(exc, RedisClusterException) and cluster_trouble(exc):
        return unavailable(exc)
    return exc


@contextlib.contextmanager
def translated():
    """Redis trouble inside the block leaves it as the engine's exception
    (BrokerUnavailable, DamagedKey, ...). Used by the sync and the async broker alike."""
    try:
        yield
    except (*CONNECTION_ERRORS, redis.ResponseError, RedisClusterException) as exc:
        raise engine_exception(exc) from None


def translating(method):
    """A read of the sync broker, its Redis trouble translated (see translated)."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with translated():
            return method(*args, **kwargs)

    return wrapper
