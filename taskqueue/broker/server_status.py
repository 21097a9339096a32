"""What a Redis server says of itself, for the console's Redis panel: memory used and
its limit, the eviction policy, persistence (AOF and its fsync, RDB save points),
connected clients and commands per second. One node, or every primary of a cluster.

The settings safety.py judges (maxmemory-policy, appendonly, save) are read as
server.py reads them (CONFIG GET, else INFO), so the panel and the start-up warnings
agree; the rest comes from one INFO. A managed Redis may refuse CONFIG (then appendfsync
and the save points are unknown: None) or INFO (the figures read as None).
"""

from dataclasses import dataclass

import redis
import redis.cluster

from .server import _settings


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """One Redis server as it describes itself; None where it would not say."""

    name: str | None  # 'host:port' of a cluster's primary; None for the one Redis
    version: str | None
    used_memory: int | None  # bytes
    maxmemory: int | None  # bytes; 0: no limit
    maxmemory_policy: str | None
    appendonly: str | None  # "yes" / "no"
    appendfsync: str | None  # always / everysec / no
    save: str | None  # RDB save points, "3600 1 300 100"; "" for none
    connected_clients: int | None
    ops_per_sec: int | None
    settings: dict[str, str]  # what server.node_settings gives safety.py to judge


def server_status(client) -> list[NodeStatus]:
    """The status of one Redis, or of every primary of a cluster (by 'host:port')."""
    if isinstance(client, redis.cluster.RedisCluster):
        return [
            _status(f"{node.host}:{node.port}", client.get_redis_connection(node))
            for node in client.get_primaries()
        ]
    return [_status(None, client)]


def _status(name: str | None, node) -> NodeStatus:
    settings = _settings(node)
    try:
        info = node.info()
    except redis.ResponseError:  # INFO not allowed (an ACL, a managed Redis)
        info = {}
    return NodeStatus(
        name=name,
        version=_text(info.get("redis_version")),
        used_memory=_number(info.get("used_memory")),
        maxmemory=_number(info.get("maxmemory")),
        maxmemory_policy=settings.get("maxmemory-policy"),
        appendonly=settings.get("appendonly"),
        appendfsync=_config(node, "appendfsync"),
        save=settings.get("save"),
        connected_clients=_number(info.get("connected_clients")),
        ops_per_sec=_number(info.get("instantaneous_ops_per_sec")),
        settings=settings,
    )


def _config(node, name: str) -> str | None:
    try:
        value = node.config_get(name).get(name)
    except redis.ResponseError:
        return None
    if value is None:
        return None
    return value if isinstance(value, str) else value.decode()


def _number(value) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _text(value) -> str | None:
    return None if value is None else str(value)
