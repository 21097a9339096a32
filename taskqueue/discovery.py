"""Which modules every process imports for its tasks, and which task modules it missed.

A worker runs a task only if it finds the name in its registry; it never imports a
module named in Redis. So every process, web and worker alike, imports the same modules
at start-up (`AppConfig.ready()` calls `import_task_modules()`):

1. each installed app's `tasks` module (and whatever those import), as Django admin
   does with `admin.py`;
2. then the modules `TASKQUEUE["IMPORTS"]` lists, for tasks that live elsewhere
   (`myapp/jobs.py`, `myapp/services/email.py`).

The modules loaded by then are remembered. A task defined in a module imported later
(by a view, say) exists in that process only: `uncovered_modules()` names such modules
for the system check taskqueue.W003. A module that another app's `ready()` imports is
named too (taskqueue's `ready()` runs first, being first in INSTALLED_APPS) although
workers load it: listing it in IMPORTS says it is meant, and silences the warning.
"""

import sys
from collections.abc import Iterable
from importlib import import_module

from django.apps import apps
from django.conf import settings
from django.utils.module_loading import autodiscover_modules

from .conf import import_problems
from .registry import registry

_loaded: frozenset[str] = frozenset()  # sys.modules when import_task_modules() finished


def import_task_modules() -> dict[str, ImportError]:
    """Import every installed app's `tasks` module, then TASKQUEUE["IMPORTS"]. Returns the
    IMPORTS that failed, by name: a bad setting is reported by the checks (taskqueue.E015;
    `runworker` then refuses to start), not raised while apps load."""
    global _loaded
    autodiscover_modules("tasks")
    failed = import_all(configured_imports())
    _loaded = frozenset(sys.modules)
    return failed


def configured_imports() -> tuple[str, ...]:
    """TASKQUEUE["IMPORTS"] when it is well formed, else () (taskqueue.E014 says why).
    Read on its own, not through get_config(): another option's mistake must not stop
    the tasks from loading."""
    raw = getattr(settings, "TASKQUEUE", None)
    imports = raw.get("IMPORTS", ()) if isinstance(raw, dict) else ()
    return () if import_problems(imports) else tuple(imports)


def import_all(names: Iterable[str]) -> dict[str, ImportError]:
    """Import each module (already imported ones cost nothing); the failures, by name."""
    failed = {}
    for name in names:
        try:
            import_module(name)
        except ImportError as exc:
            failed[name] = exc
    return failed


def uncovered_modules() -> dict[str, list[str]]:
    """Module -> names of the tasks registered from it, for each module that defines
    tasks (native or django.tasks ones routed to our backend: both are in the registry)
    but that a worker does not import: not loaded by import_task_modules(), not an
    installed app's `tasks` module, not in IMPORTS."""
    covered = _loaded | set(configured_imports())
    covered |= {f"{app.name}.tasks" for app in apps.get_app_configs()}
    found: dict[str, list[str]] = {}
    for task in registry:
        if task.__module__ not in covered:
            found.setdefault(task.__module__, []).append(task.name)
    return found
