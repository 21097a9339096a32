"""Redis errors leave the broker as the engine's exceptions (raise ... from None)."""

import functools
import inspect

import redis

from ..errors import BrokerUnavailable

CONNECTION_ERRORS = (redis.ConnectionError, redis.TimeoutError, ConnectionError, TimeoutError)


def unavailable(exc: BaseException) -> BrokerUnavailable:
    return BrokerUnavailable(f"Redis is unavailable: {exc or type(exc).__name__}")


def translating(method):
    """Wrap a broker method (sync or async) so connection trouble is BrokerUnavailable."""
    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def async_wrapper(*args, **kwargs):
            try:
                return await method(*args, **kwargs)
            except CONNECTION_ERRORS as exc:
                raise unavailable(exc) from None

        return async_wrapper

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except CONNECTION_ERRORS as exc:
            raise unavailable(exc) from None

    return wrapper
