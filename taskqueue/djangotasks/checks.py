"""What RedisTaskBackend.check() reports (`manage.py check`), each with a hint.

taskqueue.E101  OPTIONS is not a dict, or names an option the backend does not know
taskqueue.E102  an OPTIONS value is invalid
taskqueue.E103  QUEUES is not a list of valid queue names
taskqueue.W104  a queue of QUEUES that `runworker` does not serve by default
taskqueue.E105  the taskqueue app is not installed (no worker, no autodiscovery)
"""

from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.core.checks import CheckMessage, Error, Warning

from .. import options as check
from ..conf import OPTIONS as TASKQUEUE_OPTIONS
from ..conf import get_config
from ..errors import ConfigurationError, ValidationError
from ..names import QUEUE_NAME_RE
from ..registry import registry
from ..worker.options import default_queues

# OPTIONS: defaults for the backend's tasks, before TASKQUEUE's own.
BACKEND_OPTIONS: dict[str, Callable[[Any], Any]] = {
    "MAX_RETRIES": check.max_retries,
    "TIMEOUT": check.timeout,
    "TENANT": check.tenant,  # every task sent through this backend is this tenant's
}


def problems(alias: str, queues: Any, options: Any) -> list[CheckMessage]:
    obj = f"settings.TASKS[{alias!r}]"
    found = _option_problems(options) + _queue_problems(queues)
    if not apps.is_installed("taskqueue"):
        found.append(
            Error(
                "The taskqueue app is not installed: no worker runs these tasks.",
                hint='Add "taskqueue" to INSTALLED_APPS (before "channels").',
                id="taskqueue.E105",
            )
        )
    for message in found:
        message.obj = obj
    return found


def _option_problems(options: Any) -> list[CheckMessage]:
    known = ", ".join(BACKEND_OPTIONS)
    if not isinstance(options, dict):
        return [
            Error("OPTIONS must be a dict.", hint=f"Known options: {known}.", id="taskqueue.E101")
        ]
    found: list[CheckMessage] = []
    for name, value in options.items():
        if name not in BACKEND_OPTIONS:
            found.append(
                Error(f"Unknown OPTIONS key {name!r}.", hint=_hint(name), id="taskqueue.E101")
            )
            continue
        try:
            BACKEND_OPTIONS[name](value, field=name)
        except ValidationError as exc:
            found.append(Error(f"OPTIONS[{name!r}]: {exc}", id="taskqueue.E102"))
    return found


def _hint(name: object) -> str:
    if name in TASKQUEUE_OPTIONS:
        return (
            f"{name} is a TASKQUEUE setting: the backend uses the broker TASKQUEUE "
            "configures (REDIS_URL, PREFIX...), the one its workers serve."
        )
    return f"Known options: {', '.join(BACKEND_OPTIONS)}."


def _queue_problems(queues: Any) -> list[CheckMessage]:
    hint = "Queue names match ^[a-z0-9][a-z0-9_.-]{0,62}$."
    if not isinstance(queues, (list, tuple, set, frozenset)):
        return [
            Error(
                f"QUEUES must be a list of queue names, not {queues!r}.",
                hint=hint,
                id="taskqueue.E103",
            )
        ]
    bad = [q for q in queues if not isinstance(q, str) or not QUEUE_NAME_RE.fullmatch(q)]
    if bad:
        return [Error(f"Invalid queue name(s) in QUEUES: {bad!r}.", hint=hint, id="taskqueue.E103")]
    try:
        config = get_config()
    except ConfigurationError:
        return []  # TASKQUEUE's own checks (taskqueue.E00x) say what is wrong
    served = default_queues(config, registry)
    unserved = sorted(set(queues) - set(served))
    if not unserved:
        return []
    return [
        Warning(
            f"QUEUES {unserved!r} are neither in TASKQUEUE['QUEUES'] nor declared by a "
            "registered task: `manage.py runworker` does not serve them unless told to.",
            hint="Add them to TASKQUEUE['QUEUES'], or run `runworker --queues ...` naming them.",
            id="taskqueue.W104",
        )
    ]
