"""The forms REDIS_URL takes, parsed in one place (client.py builds the clients, the
system checks report what `problem()` finds):

    redis://[[user]:password@]host:port/db      one Redis (rediss:// for TLS)
    unix://[[user]:password@]/path.sock?db=N    one Redis on a Unix socket
    redis+cluster://[[user]:password@]host:port,host:port,...[/][?ssl=true]
                                                a Redis Cluster: any reachable nodes
                                                start the client, it learns the rest
    redis+sentinel://[[user]:password@]host:port,host:port,.../service[/db][?sentinel_password=...]
                                                the master Sentinel names `service`;
                                                the password is the master's

Default ports: 6379 for cluster nodes, 26379 for sentinels.
"""

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote

SINGLE_SCHEMES = ("redis://", "rediss://", "unix://")
CLUSTER = "redis+cluster://"
SENTINEL = "redis+sentinel://"
SCHEMES = (*SINGLE_SCHEMES, CLUSTER, SENTINEL)
OPTIONS = {CLUSTER: {"ssl"}, SENTINEL: {"sentinel_password"}}
DEFAULT_PORT = {CLUSTER: 6379, SENTINEL: 26379}
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
FORMS = (
    "redis://host:port/db, rediss://... for TLS, unix:///path.sock, "
    "redis+cluster://host:port,host:port,... or "
    "redis+sentinel://host:port,host:port,.../service_name[/db]"
)


@dataclass(frozen=True)
class RedisTarget:
    """What a REDIS_URL names. `kind` is 'single', 'cluster' or 'sentinel'."""

    kind: str
    url: str
    nodes: tuple[tuple[str, int], ...] = ()  # cluster startup nodes, or the sentinels
    service: str = ""  # the Sentinel service name
    db: int = 0
    username: str | None = None
    password: str | None = None
    options: dict[str, str] = field(default_factory=dict)

    @property
    def single_node(self) -> bool:
        return self.kind == "single"


def parse(url: object) -> RedisTarget:
    """The target of a REDIS_URL; ValueError (with the reason) when it is not one."""
    if not isinstance(url, str) or not url.startswith(SCHEMES):
        raise ValueError(f"{url!r} is not a Redis URL")
    if url.startswith(SINGLE_SCHEMES):
        return RedisTarget("single", url)
    scheme = CLUSTER if url.startswith(CLUSTER) else SENTINEL
    rest, _, query = url[len(scheme) :].partition("?")
    authority, _, path = rest.partition("/")
    userinfo, _, hosts = authority.rpartition("@")
    username, password = _credentials(userinfo)
    nodes = tuple(_node(part, DEFAULT_PORT[scheme]) for part in hosts.split(","))
    options = _options(query, OPTIONS[scheme])
    if scheme == CLUSTER:
        if path.strip("/"):
            raise ValueError("a cluster URL has no path: Redis Cluster has only database 0")
        return RedisTarget("cluster", url, nodes, "", 0, username, password, options)
    service, db = _service(path)
    return RedisTarget("sentinel", url, nodes, service, db, username, password, options)


def problem(url: object) -> str | None:
    """Why `url` is not a usable REDIS_URL, or None."""
    try:
        parse(url)
    except ValueError as exc:
        return str(exc)
    return None


def is_single_node(url: object) -> bool:
    """True for redis://, rediss:// and unix:// URLs (a plain Redis, e.g. for Channels)."""
    return isinstance(url, str) and url.startswith(SINGLE_SCHEMES)


def _credentials(userinfo: str) -> tuple[str | None, str | None]:
    if not userinfo:
        return None, None
    user, colon, password = userinfo.partition(":")
    return (unquote(user) or None), (unquote(password) if colon else None)


def _node(text: str, default_port: int) -> tuple[str, int]:
    host, port = text, str(default_port)
    if text.startswith("["):  # [IPv6]:port
        host, _, after = text[1:].partition("]")
        port = after[1:] if after.startswith(":") else port
    elif ":" in text:
        host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not a host:port")
    return host, int(port)


def _options(query: str, allowed: set[str]) -> dict[str, str]:
    options = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)}; allowed: {sorted(allowed)}")
    if "ssl" in options and options["ssl"].lower() not in TRUE + FALSE:
        raise ValueError(f"ssl={options['ssl']!r} is not true or false")
    return options


def _service(path: str) -> tuple[str, int]:
    service, _, db = path.strip("/").partition("/")
    if not service:
        raise ValueError("a Sentinel URL names its service: redis+sentinel://host:port/service")
    if db and not db.isdigit():
        raise ValueError(f"database {db!r} is not a number")
    return unquote(service), int(db or 0)


def flag(value: str | None) -> bool:
    return value is not None and value.lower() in TRUE
