"""The TASKQUEUE setting: every option, its default, and its validation.

    TASKQUEUE = {"REDIS_URL": "redis://127.0.0.1:6379/0", "QUEUES": ["high", "default"]}

Options not given take the defaults below. `problems()` is what the system checks
(taskqueue.E001...) report; `get_config()` raises ConfigurationError on the first one,
so a bad setting surfaces as a check with a hint, never as a crash at import time.
"""

import base64
import binascii
from dataclasses import dataclass, field, fields
from typing import Any

from .cron import valid_cron
from .errors import ConfigurationError, ValidationError
from .limits import settings_limits
from .names import PREFIX_RE, QUEUE_NAME_RE
from .priority import MAX_PRIORITY, MIN_PRIORITY
from .redis_urls import FORMS
from .redis_urls import problem as url_problem

MAX_SHARDS = 64


@dataclass(frozen=True)
class Config:
    REDIS_URL: str = "redis://127.0.0.1:6379/0"  # the broker's Redis (see redis_urls.py)
    # start anyway when REDIS_URL reaches Redis over the network with neither a password
    # nor TLS (workers, runall and the web process refuse it otherwise: safety.py)
    ALLOW_INSECURE_REDIS: bool = False
    PREFIX: str = "tq"  # first part of every key
    QUEUES: tuple[str, ...] = ("default",)  # queues workers serve by default, in order
    DEFAULT_QUEUE: str = "default"  # where @task sends tasks that name none
    DEFAULT_PRIORITY: int = 5  # 1..10, 10 runs first
    MAX_RETRIES: int = 3  # retries after the first attempt fails
    RETRY_BACKOFF: float = 1.0  # seconds: base of the exponential backoff
    RETRY_BACKOFF_MAX: float = 600.0  # seconds: cap of one backoff delay
    TIMEOUT: float | None = 300.0  # seconds a task may run (None: no limit)
    LEASE_SECONDS: float = 30.0  # a claim's lease; heartbeats renew it every third
    MAX_LEASE_LOSSES: int = 3  # lost leases (crashed workers) before the DLQ
    RESULT_TTL: int = 86_400  # seconds completed and cancelled records are kept
    DEAD_TTL: int = 7 * 86_400  # seconds dead-letter entries are kept
    DEAD_MAX: int = 10_000  # dead-letter entries kept per queue (oldest trimmed)
    IDEMPOTENCY_TTL: int = 86_400  # seconds an idempotency key maps to its task
    MAX_PAYLOAD_BYTES: int = 1_048_576  # args + kwargs of one task, as JSON
    # check each call's arguments against the task's signature and type hints, at
    # enqueue and again in the worker (docs/tasks.md#typed-arguments)
    VALIDATE_PAYLOADS: bool = True
    EVENTS_MAXLEN: int = 10_000  # approximate length of each queue's event stream
    WAKE_MAX: int = 64  # wake-up tokens kept per queue for blocked workers
    SOCKET_TIMEOUT: float = 5.0  # seconds before a Redis command is given up
    # periodic tasks: {"name": {"task": "app.tasks.x", "cron": "*/5 * * * *", "args": [],
    # "kwargs": {}, "queue": "default"}}; see taskqueue/periodic.py
    PERIODIC: dict = field(default_factory=dict)
    ARCHIVE_COMPLETED: bool = False  # archive completed tasks too (dead, cancelled always)
    ARCHIVE_RETENTION_DAYS: int = 365  # days archived tasks are kept in the database
    ARCHIVE_INTERVAL: float = 60.0  # seconds between archive runs (archive.archive_if_due)
    # hot queues split into N sub-queues on different cluster slots: {"emails": 4};
    # priority and FIFO hold within each sub-queue only (docs/scaling.md)
    SHARDS: dict = field(default_factory=dict)
    WORKFLOW_MAX_NODES: int = 10_000  # tasks one workflow may hold (docs/workflows.md)
    # more modules that define tasks, imported at start-up in every process after each
    # installed app's tasks.py: ("myapp.jobs", "myapp.services.email"); see discovery.py
    IMPORTS: tuple[str, ...] = ()
    # flow control per queue, for all workers together (docs/flow-control.md):
    # {"emails": {"rate": "100/m", "burst": 10, "concurrency": 5}}
    LIMITS: dict = field(default_factory=dict)
    # console groups -> the queues their users may see: {"mail team": ["emails"]}; a user
    # in none of these groups (and every superuser) sees every queue (docs/console.md)
    QUEUE_ACCESS: dict = field(default_factory=dict)
    # Fernet keys for @task(encrypt=...) and encrypt_result=True: new values are encrypted
    # with the first, the others still decrypt (key rotation; docs/tasks.md#encrypted-arguments)
    ENCRYPTION_KEYS: tuple[str, ...] = ()
    # a callable that receives every task state change this process reports, as a
    # taskqueue.events_hook.TaskEvent, in a background thread: "myapp.hooks.on_event"
    # (docs/observability.md#events-hook); "" for none
    EVENT_HOOK: str = ""

    @property
    def lease_ms(self) -> int:
        return int(self.LEASE_SECONDS * 1000)


OPTIONS = {f.name for f in fields(Config)}
_POSITIVE_INTS = (
    "MAX_LEASE_LOSSES",
    "RESULT_TTL",
    "DEAD_TTL",
    "DEAD_MAX",
    "IDEMPOTENCY_TTL",
    "MAX_PAYLOAD_BYTES",
    "EVENTS_MAXLEN",
    "WAKE_MAX",
    "ARCHIVE_RETENTION_DAYS",
    "WORKFLOW_MAX_NODES",
)
_POSITIVE_NUMBERS = (
    "RETRY_BACKOFF",
    "RETRY_BACKOFF_MAX",
    "LEASE_SECONDS",
    "SOCKET_TIMEOUT",
    "ARCHIVE_INTERVAL",
)
_BOOLEANS = ("ARCHIVE_COMPLETED", "ALLOW_INSECURE_REDIS", "VALIDATE_PAYLOADS")


def problems(raw: Any) -> list[tuple[str, str, str]]:
    """Every problem with a TASKQUEUE value, as (check id, message, hint)."""
    if raw is None:
        return []
    if not isinstance(raw, dict):
        return [("E001", f"TASKQUEUE must be a dict, not {type(raw).__name__}.", "")]
    found = []
    unknown = sorted(set(raw) - OPTIONS)
    if unknown:
        found.append(
            (
                "E002",
                f"Unknown TASKQUEUE option(s): {', '.join(map(str, unknown))}.",
                f"Known options: {', '.join(sorted(OPTIONS))}.",
            )
        )
    found += _url_problems(raw) + _queue_problems(raw) + _number_problems(raw)
    found += _shard_problems(raw.get("SHARDS", {})) + import_problems(raw.get("IMPORTS", ()))
    found += _limits_problems(raw.get("LIMITS", {}))
    found += _access_problems(raw.get("QUEUE_ACCESS", {}))
    found += _key_problems(raw.get("ENCRYPTION_KEYS", ()))
    found += _hook_problems(raw.get("EVENT_HOOK", ""))
    return found + _periodic_problems(raw.get("PERIODIC", {}))


def import_problems(imports: Any) -> list[tuple[str, str, str]]:
    """taskqueue.E014: IMPORTS is not a list of dotted module paths. Only the form is
    checked here; whether each module imports is taskqueue.E015's (checks.py)."""
    hint = 'e.g. ["myapp.jobs", "myapp.services.email"]: absolute dotted module paths.'
    if not isinstance(imports, (list, tuple)):
        message = f"TASKQUEUE['IMPORTS'] must be a list of module names, not {imports!r}."
        return [("E014", message, hint)]
    return [
        ("E014", f"{name!r} in TASKQUEUE['IMPORTS'] is not a dotted module path.", hint)
        for name in imports
        if not is_module_path(name)
    ]


def _limits_problems(limits: Any) -> list[tuple[str, str, str]]:
    """taskqueue.E016: LIMITS is not a dict of queue name -> limits."""
    try:
        settings_limits(limits)
    except ValidationError as exc:
        hint = 'e.g. {"emails": {"rate": "100/m", "burst": 10, "concurrency": 5}}'
        return [("E016", str(exc), hint)]
    return []


def _access_problems(access: Any) -> list[tuple[str, str, str]]:
    """taskqueue.E017: QUEUE_ACCESS is not a dict of group name -> queue names."""
    hint = 'e.g. {"mail team": ["emails", "reports"]}: a group name and its queues.'
    if not isinstance(access, dict):
        return [("E017", "TASKQUEUE['QUEUE_ACCESS'] must be a dict of group -> queues.", hint)]
    return [
        ("E017", f"TASKQUEUE['QUEUE_ACCESS'][{group!r}] = {queues!r} is not allowed.", hint)
        for group, queues in access.items()
        if not isinstance(group, str)
        or not isinstance(queues, list | tuple)
        or not all(isinstance(q, str) and QUEUE_NAME_RE.fullmatch(q) for q in queues)
    ]


def _key_problems(keys: Any) -> list[tuple[str, str, str]]:
    """taskqueue.E018: ENCRYPTION_KEYS is not a list of Fernet keys (32 bytes, url-safe
    base64: what `Fernet.generate_key()` returns)."""
    hint = (
        "A list of keys, newest first, each made by `python -c 'from cryptography.fernet "
        "import Fernet; print(Fernet.generate_key().decode())'`."
    )
    if not isinstance(keys, (list, tuple)):
        return [("E018", "TASKQUEUE['ENCRYPTION_KEYS'] must be a list of Fernet keys.", hint)]
    return [
        ("E018", f"TASKQUEUE['ENCRYPTION_KEYS'][{i}] is not a Fernet key.", hint)
        for i, key in enumerate(keys)
        if not is_fernet_key(key)
    ]


def is_fernet_key(key: Any) -> bool:
    """Whether `key` is a Fernet key: 32 bytes in url-safe base64 (the key itself is
    never put in a message)."""
    if not isinstance(key, str) or len(key) != 44 or not key.isascii():
        return False
    try:
        return len(base64.urlsafe_b64decode(key.encode())) == 32
    except (binascii.Error, ValueError):
        return False


def _hook_problems(hook: Any) -> list[tuple[str, str, str]]:
    """taskqueue.E020: EVENT_HOOK is not "" or the dotted path of a callable. Only the
    form is checked here; whether it imports is taskqueue.E021's (checks.py)."""
    if hook == "" or (isinstance(hook, str) and "." in hook and is_module_path(hook)):
        return []
    hint = 'e.g. "myapp.hooks.on_event": a module path and the name of a function in it.'
    return [("E020", f"TASKQUEUE['EVENT_HOOK'] must be a dotted path, not {hook!r:.80}.", hint)]


def is_module_path(name: Any) -> bool:
    """True for "myapp.jobs": identifiers joined by dots (not ".jobs", not "myapp/jobs")."""
    return isinstance(name, str) and all(part.isidentifier() for part in name.split("."))


def _shard_problems(shards: Any) -> list[tuple[str, str, str]]:
    hint = f'e.g. {{"emails": 4}}: a queue name and 2 to {MAX_SHARDS} sub-queues.'
    if not isinstance(shards, dict):
        return [("E012", "TASKQUEUE['SHARDS'] must be a dict of queue name -> count.", hint)]
    return [
        ("E012", f"TASKQUEUE['SHARDS'][{name!r}] = {count!r} is not allowed.", hint)
        for name, count in shards.items()
        if not isinstance(name, str)
        or not QUEUE_NAME_RE.fullmatch(name)
        or type(count) is not int
        or not 1 <= count <= MAX_SHARDS
    ]


def _periodic_problems(periodic: Any) -> list[tuple[str, str, str]]:
    hint = 'Each entry: {"task": "app.tasks.name", "cron": "*/5 * * * *"} (+ args, kwargs, queue).'
    if not isinstance(periodic, dict):
        return [("E010", "TASKQUEUE['PERIODIC'] must be a dict of schedules.", hint)]
    return [
        ("E010", f"TASKQUEUE['PERIODIC'][{name!r}] is not a valid schedule.", hint)
        for name, spec in periodic.items()
        if not isinstance(spec, dict)
        or not isinstance(spec.get("task"), str)
        or not valid_cron(spec.get("cron"))
    ]


def _url_problems(raw: dict) -> list[tuple[str, str, str]]:
    url = raw.get("REDIS_URL", Config.REDIS_URL)
    found = url_problem(url)
    if found:
        return [("E003", f"TASKQUEUE['REDIS_URL'] is not usable: {found}.", f"Use {FORMS}.")]
    prefix = raw.get("PREFIX", Config.PREFIX)
    if not isinstance(prefix, str) or not PREFIX_RE.fullmatch(prefix):
        return [
            (
                "E004",
                f"TASKQUEUE['PREFIX'] {prefix!r} is not allowed.",
                "Use 1-32 characters from A-Z a-z 0-9 _ . : - (no braces).",
            )
        ]
    return []


def _queue_problems(raw: dict) -> list[tuple[str, str, str]]:
    found = []
    queues = raw.get("QUEUES", Config.QUEUES)
    hint = "Queue names match ^[a-z0-9][a-z0-9_.-]{0,62}$."
    if not isinstance(queues, (list, tuple)) or not queues:
        found.append(("E005", "TASKQUEUE['QUEUES'] must be a non-empty list of names.", hint))
        queues = ()
    for name in queues:
        if not isinstance(name, str) or not QUEUE_NAME_RE.fullmatch(name):
            found.append(("E005", f"Queue name {name!r} in TASKQUEUE['QUEUES'] is invalid.", hint))
    default = raw.get("DEFAULT_QUEUE", Config.DEFAULT_QUEUE)
    if not isinstance(default, str) or not QUEUE_NAME_RE.fullmatch(default):
        found.append(("E006", f"TASKQUEUE['DEFAULT_QUEUE'] {default!r} is invalid.", hint))
    priority = raw.get("DEFAULT_PRIORITY", Config.DEFAULT_PRIORITY)
    if type(priority) is not int or not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        found.append(
            (
                "E007",
                f"TASKQUEUE['DEFAULT_PRIORITY'] must be an integer from 1 to 10, not {priority!r}.",
                "10 runs first; the default is 5.",
            )
        )
    return found


def _number_problems(raw: dict) -> list[tuple[str, str, str]]:
    found = []
    for name in (*_POSITIVE_INTS, "MAX_RETRIES"):
        value = raw.get(name, getattr(Config, name))
        minimum = 0 if name == "MAX_RETRIES" else 1
        if type(value) is not int or value < minimum:
            found.append(
                ("E008", f"TASKQUEUE[{name!r}] must be an integer >= {minimum}, not {value!r}.", "")
            )
    for name in (*_POSITIVE_NUMBERS, "TIMEOUT"):
        value = raw.get(name, getattr(Config, name))
        if name == "TIMEOUT" and value is None:
            continue
        if type(value) not in (int, float) or not value > 0:
            found.append(("E009", f"TASKQUEUE[{name!r}] must be a number > 0, not {value!r}.", ""))
    for name in _BOOLEANS:
        value = raw.get(name, getattr(Config, name))
        if type(value) is not bool:
            found.append(("E011", f"TASKQUEUE[{name!r}] must be True or False, not {value!r}.", ""))
    return found


def build(raw: dict | None) -> Config:
    """A Config from a TASKQUEUE dict; ConfigurationError on the first problem."""
    found = problems(raw)
    if found:
        check_id, message, hint = found[0]
        raise ConfigurationError(f"taskqueue.{check_id}: {message} {hint}".strip())
    values = dict(raw or {})
    if "SHARDS" in values:
        values["SHARDS"] = {q: n for q, n in values["SHARDS"].items() if n > 1}
    for name in ("QUEUES", "IMPORTS", "ENCRYPTION_KEYS"):
        if name in values:
            values[name] = tuple(values[name])
    return Config(**values)


def get_config() -> Config:
    """The Config for the current Django settings (rebuilt when settings change)."""
    global _cached
    if _cached is None:
        from django.conf import settings

        _cached = build(getattr(settings, "TASKQUEUE", None))
    return _cached


def reset_config(**_: Any) -> None:
    global _cached
    _cached = None


_cached: Config | None = None
