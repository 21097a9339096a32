"""Redis errors leave the broker as the engine's exceptions (raise ... from None).

Connection trouble, replies that mean "Redis cannot take this now" (out of memory
under noeviction, still loading its data after a restart, a read-only replica, a
cluster with a slot not served during a fail-over...) and a cluster that cannot be
reached become BrokerUnavailable: the API answers 503 and the worker retries later.
"""

import functools
import inspect

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


def translating(method):
    """Wrap a broker method (sync or async) so Redis trouble is BrokerUnavailable."""
    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def async_wrapper(*args, **kwargs):
            try:
                return await method(*args, **kwargs)
            except CONNECTION_ERRORS as exc:
                raise unavailable(exc) from None
            except redis.ResponseError as exc:
                raise engine_error(exc) from None
            except RedisClusterException as exc:
                if cluster_trouble(exc):
                    raise unavailable(exc) from None
                raise

        return async_wrapper

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except CONNECTION_ERRORS as exc:
            raise unavailable(exc) from None
        except redis.ResponseError as exc:
            raise engine_error(exc) from None
        except RedisClusterException as exc:
            if cluster_trouble(exc):
                raise unavailable(exc) from None
            raise

    return wrapper
