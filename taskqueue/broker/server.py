"""What a Redis server says of its own settings: the eviction policy and persistence
(taskqueue/safety.py judges them). Asked with CONFIG GET, else INFO (a managed Redis
or an ACL may allow neither: the setting is then missing from the answer)."""

import redis
import redis.cluster

from ..errors import TaskQueueError
from .connection import close_client, connect

CHECKED = ("maxmemory-policy", "appendonly", "save")


def node_settings(client) -> list[tuple[str | None, dict[str, str]]]:
    """(node name, its settings) for one Redis (name None), or for every primary of a
    cluster ('host:port')."""
    if isinstance(client, redis.cluster.RedisCluster):
        return [
            (f"{node.host}:{node.port}", _settings(client.get_redis_connection(node)))
            for node in client.get_primaries()
        ]
    return [(None, _settings(client))]


def probe(url: str, timeout: float) -> list[tuple[str | None, dict[str, str]]] | None:
    """node_settings of the Redis at `url`, or None while it does not answer (an error
    of asking one that answers is raised)."""
    try:
        client = connect(url, socket_timeout=timeout)
    except (redis.RedisError, OSError, TaskQueueError):
        return None
    try:
        client.ping()
    except (redis.RedisError, OSError, TaskQueueError):
        close_client(client)
        return None
    try:
        return node_settings(client)
    finally:
        close_client(client)


def _settings(node) -> dict[str, str]:
    """maxmemory-policy, appendonly and save from CONFIG GET, else what INFO tells."""
    found: dict[str, str] = {}
    for name in CHECKED:
        try:
            value = node.config_get(name).get(name)
        except redis.ResponseError:  # CONFIG renamed or not allowed (managed Redis, ACL)
            continue
        if value is not None:
            found[name] = value if isinstance(value, str) else value.decode()
    if "maxmemory-policy" not in found or "appendonly" not in found:
        try:
            info = node.info("memory") | node.info("persistence")
        except redis.ResponseError:
            return found
        if "maxmemory_policy" in info:
            found.setdefault("maxmemory-policy", str(info["maxmemory_policy"]))
        if "aof_enabled" in info:
            found.setdefault("appendonly", "yes" if int(info["aof_enabled"]) else "no")
    return found


def answers(url: str, timeout: float = 1.0) -> bool:
    """Whether a Redis answers a PING at `url` within `timeout` seconds."""
    try:
        with redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout) as c:
            return bool(c.ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False
