"""Start-up safety: what `runworker`, `runall` and the web process check before they
use the broker's Redis (docs/configuration.md#start-up-safety).

1. The URL (no network): a Redis reached over the network must be protected by a
   password or TLS. `refuse_insecure()` raises InsecureRedis unless every node the URL
   names is on loopback or a Unix socket, or the URL carries a password, or it uses TLS
   (`rediss://`, `redis+cluster://...?ssl=true`), or `TASKQUEUE["ALLOW_INSECURE_REDIS"]`
   is True. Per form:
   - `redis://` / `unix://` / `rediss://`: the host (a Unix socket and TLS always pass);
   - `redis+cluster://`: every startup node; the URL's password and `ssl` apply to all
     nodes (the client uses them for the nodes it discovers too);
   - `redis+sentinel://`: the master is found at run time, so when any sentinel is not
     on loopback the URL must carry the master's password, and each such sentinel needs
     `sentinel_password` (an open sentinel lets anyone on the network name the master).
   Host names are not resolved: only `localhost`, 127.0.0.0/8 and ::1 are loopback.
2. The server (one round trip per node): `server_warnings()` lists what can lose tasks
   silently - a `maxmemory-policy` other than `noeviction` (Redis may evict task
   records), and no persistence (neither AOF nor RDB save points: a restart loses
   everything). `warn_about_server()` logs each warning once per process. A managed
   Redis may refuse CONFIG: INFO is asked instead, and what still cannot be read is
   reported as "could not check", never raised.
"""

import ipaddress
import logging
import re
import threading
import time
from urllib.parse import parse_qsl, urlsplit

from . import redis_urls
from .broker import node_settings, probe
from .conf import Config
from .errors import ConfigurationError

log = logging.getLogger("taskqueue.safety")
OPTION = 'TASKQUEUE["ALLOW_INSECURE_REDIS"] = True'
HOW_TO_FIX = (
    "Give Redis a password (redis://:password@host:6379/0) or use TLS (rediss://...), "
    f"or, on a network you trust, set {OPTION} (environment: TASKQUEUE_ALLOW_INSECURE_REDIS=1)."
)
_PASSWORD_IN_AUTHORITY = re.compile(r"(://[^/@?#]*?):[^/@?#]*@")
_PASSWORD_IN_QUERY = re.compile(r"((?:^|[?&])(?:sentinel_)?password=)[^&#]*")


class InsecureRedis(ConfigurationError):
    """REDIS_URL names a Redis on the network with neither a password nor TLS."""


def mask_url(url: str) -> str:
    """The URL with any password (user info, `password=`, `sentinel_password=`) masked."""
    masked = _PASSWORD_IN_AUTHORITY.sub(r"\1:****@", url)
    head, sep, query = masked.partition("?")
    return head + sep + _PASSWORD_IN_QUERY.sub(r"\1****", query)


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.partition("%")[0]).is_loopback
    except ValueError:
        return False


def insecure_reason(url: str) -> str | None:
    """Why `url` reaches Redis over the network unprotected, or None when it does not
    (a URL that does not parse is the system checks' business: None)."""
    try:
        target = redis_urls.parse(url)
    except ValueError:
        return None
    if target.kind == "single":
        return _single_reason(url)
    remote = [f"{h}:{p}" for h, p in target.nodes if not is_loopback(h)]
    if not remote:
        return None
    if target.kind == "cluster":
        if target.password or redis_urls.flag(target.options.get("ssl")):
            return None
        return (
            f"cluster node(s) {', '.join(remote)} are not on loopback "
            "and the URL has neither a password nor ssl=true"
        )
    reasons = []
    if not target.password:
        reasons.append("the master's password is not set (the sentinels are not on loopback)")
    if not target.options.get("sentinel_password"):
        reasons.append(f"sentinel(s) {', '.join(remote)} have no sentinel_password")
    return "; ".join(reasons) or None


def _single_reason(url: str) -> str | None:
    if url.startswith(("unix://", "rediss://")):
        return None
    parts = urlsplit(url)
    try:
        host = parts.hostname
    except ValueError:
        return None
    if is_loopback(host):
        return None
    if parts.password or dict(parse_qsl(parts.query)).get("password"):
        return None
    return f"host {host or '(none)'} is not on loopback and the URL has neither a password nor TLS"


def refuse_insecure(config: Config) -> None:
    """Raise InsecureRedis (naming the masked URL and the way out) for an unprotected
    network Redis, unless ALLOW_INSECURE_REDIS is set."""
    if config.ALLOW_INSECURE_REDIS:
        return
    reason = insecure_reason(config.REDIS_URL)
    if reason:
        raise InsecureRedis(
            f"Refusing to use the Redis at {mask_url(config.REDIS_URL)}: {reason}. "
            f"Anyone who can reach it can read, change or run tasks. {HOW_TO_FIX}"
        )


# -- what the server says -------------------------------------------------------------


def server_warnings(client) -> list[str]:
    """Warnings about one Redis (a redis.Redis; for a cluster, every primary)."""
    return _warnings(node_settings(client))


def settings_warnings(settings: dict[str, str]) -> list[str]:
    """The warnings about one node's settings as broker.node_settings reads them (the
    console's Redis panel judges what it shows with these)."""
    return _node_warnings(settings)


def _warnings(nodes: list[tuple[str | None, dict[str, str]]]) -> list[str]:
    """Each node's warnings, named after the node when there are several."""
    found = []
    for name, node in nodes:
        prefix = f"{name}: " if name else ""
        found += [prefix + warning for warning in _node_warnings(node)]
    return found


def _node_warnings(settings: dict[str, str]) -> list[str]:
    """What is wrong with one node's eviction and persistence settings."""
    found = []
    policy = settings.get("maxmemory-policy")
    if policy is None:
        found.append(
            "could not check maxmemory-policy (CONFIG GET and INFO are not allowed): "
            "make sure it is noeviction, or Redis may evict task records"
        )
    elif policy != "noeviction":
        found.append(
            f"maxmemory-policy is {policy}: when memory runs out Redis evicts keys, "
            "and an evicted task record is a lost task. Set maxmemory-policy noeviction "
            "(enqueues then fail loudly instead)"
        )
    aof, save = settings.get("appendonly"), settings.get("save")
    if aof == "yes" or (save or "").strip():
        return found
    if aof is None or save is None:
        found.append(
            "could not check persistence (CONFIG GET is not allowed): make sure AOF "
            "or RDB snapshots are on, or a Redis restart loses every task"
        )
    else:
        found.append(
            "persistence is off (appendonly no and no save points): a Redis restart "
            "loses every task. Turn on AOF (appendonly yes, appendfsync everysec)"
        )
    return found


UNCHECKED = "could not check eviction and persistence settings"
_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def warn_about_server(client, url: str) -> list[str]:
    """Log each server warning about `url` once per process (WARNING, logger
    taskqueue.safety); returns the warnings. Never raises: a Redis that cannot be
    asked is reported as not checked."""
    try:
        found = server_warnings(client)
    except Exception as exc:  # a Redis (or connection) error: reported, not raised
        found = [f"{UNCHECKED}: {exc}"]
    return _log_once(found, url)


def _log_once(found: list[str], url: str) -> list[str]:
    where = mask_url(url)
    for warning in found:
        with _warned_lock:
            if (where, warning) in _warned:
                continue
            _warned.add((where, warning))
        log.warning("Redis %s: %s", where, warning)
    return found


def check_server_when_reachable(config: Config, *, wait: float = 2.0) -> list[str] | None:
    """Log the server warnings for the broker's Redis. When Redis does not answer within
    `wait` seconds (a worker may start before its Redis), a daemon thread asks again
    with backoff and logs once it can; returns None then, else the warnings."""

    def attempt(timeout: float) -> list[str] | None:
        """The warnings, or None while Redis does not answer."""
        try:
            nodes = probe(config.REDIS_URL, timeout)
        except Exception as exc:  # it answers, but cannot be asked
            return _log_once([f"{UNCHECKED}: {exc}"], config.REDIS_URL)
        if nodes is None:
            return None
        return _log_once(_warnings(nodes), config.REDIS_URL)

    found = attempt(wait)
    if found is not None:
        return found

    def retry() -> None:
        delay = 1.0
        while attempt(config.SOCKET_TIMEOUT) is None:
            time.sleep(delay)
            delay = min(delay * 2, 60.0)

    threading.Thread(target=retry, name="taskqueue-safety", daemon=True).start()
    return None
