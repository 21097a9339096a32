"""Redis clients (sync and asyncio) for a REDIS_URL, with one connection policy.

Connection policy: short timeouts, TCP keepalive and a periodic health check, and at
most one quick reconnect-and-retry per command, so an unreachable Redis surfaces as
BrokerUnavailable within a few seconds instead of hanging a request or a worker.
A retried command may have run once already (the reply was lost): a resent enqueue
carries the same task ids, and the enqueue script leaves a task that exists as it is.

REDIS_URL names one Redis, a Redis Cluster or a Sentinel-watched master (see
redis_urls.py); redis-py's RedisCluster and Sentinel clients do the distributed work:
slot routing and MOVED redirects, and finding the new master after a fail-over.
"""

import contextlib

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.sentinel
import redis.cluster
import redis.sentinel
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.connection import HiredisRespSerializer
from redis.exceptions import RedisClusterException
from redis.retry import Retry
from redis.utils import HIREDIS_AVAILABLE

from .. import redis_urls
from ..conf import Config
from ..redis_urls import RedisTarget
from .errors import unavailable

if HIREDIS_AVAILABLE:  # a requirement; without it redis-py packs, and exactly
    import hiredis


class ExactPacker(HiredisRespSerializer):
    """hiredis packs str arguments as strict UTF-8 and raises on the lone surrogates
    that bytes read from Redis become (encoding_errors below): this packer sends them
    as those bytes again, so a key or an id that is not UTF-8 can be read and acted on."""

    def pack(self, *args):
        """Straight to hiredis: redis-py's own pack first passes over every argument
        looking for a bytearray or a memoryview, which the engine never sends; a bulk
        enqueue or a workflow's submission packs some 20 arguments a task."""
        if not isinstance(args[0], str):
            return self._checked(args)
        args = (*args[0].encode().split(), *args[1:])  # 'SCRIPT LOAD' is two words
        try:  # nearly always: the strict encoding succeeds, at no extra cost
            return [hiredis.pack_command(args)]
        except UnicodeEncodeError:
            return [hiredis.pack_command(tuple(map(_exact, args)))]
        except TypeError:  # a bytearray or a memoryview after all, or what cannot be sent
            return self._checked(args)

    def _checked(self, args):
        try:
            return super().pack(*args)
        except UnicodeEncodeError:
            return super().pack(*map(_exact, args))


def packs_exactly(client) -> bool:
    """Whether `client` sends lone surrogates as the bytes they stand for by itself:
    every client connect() and connect_async() make but a sync RedisCluster, which
    drops the command_packer option (keys.wire() does it for that one)."""
    return not (HIREDIS_AVAILABLE and isinstance(client, redis.cluster.RedisCluster))


def _exact(arg):
    if isinstance(arg, str) and not arg.isascii():
        return arg.encode("utf-8", "surrogateescape")
    return arg


def policy(url: str, socket_timeout: float, retry) -> dict:
    """The connection options every client gets (sync or async, any topology)."""
    options = {
        "decode_responses": True,
        # bytes that are not UTF-8 (anyone with access to Redis can write them) decode to
        # lone surrogates instead of raising mid-reply, and encode back to the same bytes
        "encoding_errors": "surrogateescape",
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": socket_timeout,
        "retry": retry,
        "health_check_interval": 15,
    }
    if not url.startswith("unix://"):
        options["socket_keepalive"] = True
    return options


def connect(url: str, *, socket_timeout: float = 5.0, **extra):
    """A sync client: redis.Redis, or a RedisCluster for a redis+cluster:// URL."""
    target = redis_urls.parse(url)
    options = policy(url, socket_timeout, Retry(ExponentialBackoff(cap=0.2, base=0.02), 1))
    if HIREDIS_AVAILABLE and target.kind != "cluster":  # (RedisCluster drops the option)
        options["command_packer"] = ExactPacker()  # (without hiredis the encoder is exact)
    options |= extra
    if target.kind == "cluster":
        try:  # a sync RedisCluster asks its startup nodes for the slot map right away
            return redis.cluster.RedisCluster(**_cluster_options(target, options, redis.cluster))
        except (RedisClusterException, redis.ConnectionError) as exc:
            raise unavailable(exc) from None
    if target.kind == "sentinel":
        return _sentinel(target, options, redis.sentinel).master_for(
            target.service, redis_class=redis.Redis, **_credentials(target)
        )
    return redis.Redis.from_url(url, **options)


def connect_async(config: Config):
    """The worker's asyncio client, with the same connection policy."""
    url = config.REDIS_URL
    target = redis_urls.parse(url)
    retry = AsyncRetry(ExponentialBackoff(cap=0.2, base=0.02), 1)
    options = policy(url, config.SOCKET_TIMEOUT, retry)
    if target.kind == "cluster":
        module = redis.asyncio.cluster
        return module.RedisCluster(**_cluster_options(target, options, module))
    if target.kind == "sentinel":
        return _sentinel(target, options, redis.asyncio.sentinel).master_for(
            target.service, redis_class=redis.asyncio.Redis, **_credentials(target)
        )
    return redis.asyncio.Redis.from_url(url, **options)


def _cluster_options(target: RedisTarget, options: dict, module) -> dict:
    options = dict(options)
    options.pop("health_check_interval")  # not a RedisCluster option: it pings on errors
    nodes = [module.ClusterNode(host, port) for host, port in target.nodes]
    ssl = redis_urls.flag(target.options.get("ssl"))
    return options | _credentials(target) | {"startup_nodes": nodes, "ssl": ssl}


def _sentinel(target: RedisTarget, options: dict, module):
    """A Sentinel manager; its master_for() clients ask the sentinels for the master
    whenever they (re)connect, so a fail-over is followed on the next reconnect."""
    sentinel_kwargs = {k: v for k, v in options.items() if k.startswith("socket_")}
    if "sentinel_password" in target.options:
        sentinel_kwargs["password"] = target.options["sentinel_password"]
    return module.Sentinel(
        list(target.nodes), sentinel_kwargs=sentinel_kwargs, **options, db=target.db
    )


def _credentials(target: RedisTarget) -> dict:
    found = {"username": target.username, "password": target.password}
    return {k: v for k, v in found.items() if v is not None}


def close_client(client) -> None:
    """Close a sync client's connections (best effort). A closed RedisCluster forgets
    its nodes and cannot be used again, so it only drops its connections: whoever still
    holds the old broker may go on using it, as with one Redis (its client reconnects)."""
    with contextlib.suppress(Exception):
        if isinstance(client, redis.cluster.RedisCluster):
            client.disconnect_connection_pools()
        else:
            client.close()
