"""System checks for the TASKQUEUE setting (taskqueue.E001...), reported by
`manage.py check` and at start-up, with hints; see conf.problems() for each id.
Two more look at where the channel layer points when the broker is not one Redis, and
two at where tasks live (discovery.py): an IMPORTS module that cannot be imported
(E015), a module defining tasks that workers do not import (W003)."""

from contextlib import suppress

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.urls import get_resolver
from django.utils.module_loading import import_string

from .conf import Config, get_config, problems
from .discovery import configured_imports, import_all, uncovered_modules
from .redis_urls import is_single_node, problem
from .registry import registry
from .safety import HOW_TO_FIX, insecure_reason, mask_url

IN_MEMORY = "channels.layers.InMemoryChannelLayer"


@register("taskqueue")
def check_settings(app_configs=None, **kwargs) -> list[Error]:
    return [
        Error(message, hint=hint or None, obj="settings.TASKQUEUE", id=f"taskqueue.{check_id}")
        for check_id, message, hint in problems(getattr(settings, "TASKQUEUE", None))
    ]


@register("taskqueue")
def check_redis_protection(app_configs=None, **kwargs) -> list[Warning]:
    """The start-up refusal of safety.py, announced by `manage.py check` (no network)."""
    raw = getattr(settings, "TASKQUEUE", None)
    if not isinstance(raw, dict) or raw.get("ALLOW_INSECURE_REDIS") is True:
        return []
    url = raw.get("REDIS_URL", Config.REDIS_URL)
    reason = insecure_reason(url) if isinstance(url, str) else None
    if not reason:
        return []
    return [
        Warning(
            f"TASKQUEUE['REDIS_URL'] {mask_url(url)} is not protected: {reason}. "
            "runworker, runall and the web process refuse to start with it.",
            hint=HOW_TO_FIX,
            obj="settings.TASKQUEUE",
            id="taskqueue.W002",
        )
    ]


@register("taskqueue")
def check_channel_layer(app_configs=None, **kwargs) -> list[Error | Warning]:
    """channels-redis cannot use a Cluster or Sentinel URL; the in-memory layer that
    config/settings.py falls back to then is worth a word."""
    layer = getattr(settings, "CHANNEL_LAYERS", {}).get("default", {})
    hosts = [
        h.get("address") if isinstance(h, dict) else h
        for h in layer.get("CONFIG", {}).get("hosts", [])
    ]
    found = [
        Error(
            f"The channel layer's Redis {host!r} is a Redis Cluster or Sentinel URL.",
            hint="channels-redis is not Cluster-aware: set CHANNELS_REDIS_URL to a plain "
            "redis:// URL (or leave it unset for the in-memory layer).",
            id="taskqueue.E013",
        )
        for host in hosts
        if isinstance(host, str) and not is_single_node(host) and problem(host) is None
    ]
    raw = getattr(settings, "TASKQUEUE", None) or {}
    url = raw.get("REDIS_URL", Config.REDIS_URL) if isinstance(raw, dict) else None
    if layer.get("BACKEND") == IN_MEMORY and problem(url) is None and not is_single_node(url):
        found.append(
            Warning(
                "REDIS_URL is a Redis Cluster or Sentinel URL and CHANNELS_REDIS_URL is "
                "not set: the channel layer is in memory, one per process.",
                hint="An access change (a logout, a permission removed) then reaches at "
                "once only the console sockets of the web process that made it, the others "
                "at their periodic re-check; with more than one web process, set "
                "CHANNELS_REDIS_URL to a plain redis:// Redis.",
                id="taskqueue.W001",
            )
        )
    return found


@register("taskqueue")
def check_imports(app_configs=None, **kwargs) -> list[Error]:
    """Each TASKQUEUE["IMPORTS"] module that cannot be imported, with its ImportError."""
    return [
        Error(
            f"TASKQUEUE['IMPORTS'] names {name!r}, which cannot be imported: {exc}",
            hint="Workers would not know its tasks. Fix the module path (an absolute "
            "dotted path, as in an import statement) or the import that fails.",
            obj="settings.TASKQUEUE",
            id="taskqueue.E015",
        )
        for name, exc in import_all(configured_imports()).items()
    ]


@register("urls")  # it loads the URLconf: `manage.py check`, not worker start-up
def check_task_modules(app_configs=None, **kwargs) -> list[Warning]:
    """A module that defines tasks but that workers do not import: they would dead-letter
    its tasks as unknown (`No task is registered under the name ...`)."""
    # Load the URLconf first, as Django's own URL check does (the order of checks is not
    # fixed), so modules that only views import are seen; its errors are that check's.
    with suppress(Exception):
        get_resolver().url_patterns  # noqa: B018 - imported for its side effect
    return [
        Warning(
            f"{module} defines the task(s) {', '.join(sorted(names))}, but worker "
            "processes do not import it: they dead-letter these tasks as unknown.",
            hint=f"Declare them in an installed app's tasks.py (or import {module} from "
            f"there), or add {module!r} to TASKQUEUE['IMPORTS'].",
            obj=module,
            id="taskqueue.W003",
        )
        for module, names in sorted(uncovered_modules().items())
    ]


@register("taskqueue")
def check_encryption_keys(app_configs=None, **kwargs) -> list[Error]:
    """taskqueue.E019: a task encrypts arguments or its result, and there are no keys
    (its enqueues would raise ConfigurationError; workers would dead-letter it)."""
    raw = getattr(settings, "TASKQUEUE", None)
    if problems(raw) or get_config().ENCRYPTION_KEYS:
        return []
    return [
        Error(
            f"The task {t.name} declares encrypt= or encrypt_result=True, and "
            "TASKQUEUE['ENCRYPTION_KEYS'] is empty.",
            hint="Add a Fernet key (Fernet.generate_key()) to TASKQUEUE['ENCRYPTION_KEYS'] "
            "in the settings of every process that enqueues or runs it.",
            obj=t.path,
            id="taskqueue.E019",
        )
        for t in sorted(registry, key=lambda t: t.name)
        if getattr(t.options, "encrypt", False) or getattr(t.options, "encrypt_result", False)
    ]


@register("taskqueue")
def check_event_hook(app_configs=None, **kwargs) -> list[Error]:
    """taskqueue.E021: TASKQUEUE["EVENT_HOOK"] names something that does not import or
    is not callable (events_hook.py would send nothing)."""
    raw = getattr(settings, "TASKQUEUE", None)
    path = raw.get("EVENT_HOOK", "") if isinstance(raw, dict) else ""
    if not path or problems({"EVENT_HOOK": path}):
        return []  # none, or E020's
    try:
        hook = import_string(path)
    except Exception as exc:  # ImportError, or whatever the module raises at import
        reason = f"cannot be imported: {exc}"
    else:
        reason = "" if callable(hook) else f"is not callable (a {type(hook).__name__})"
    if not reason:
        return []
    return [
        Error(
            f"TASKQUEUE['EVENT_HOOK'] names {path!r}, which {reason}",
            hint="Name a function that takes one TaskEvent, by its absolute dotted path "
            '("myapp.hooks.on_event"); see docs/observability.md#events-hook.',
            obj="settings.TASKQUEUE",
            id="taskqueue.E021",
        )
    ]
