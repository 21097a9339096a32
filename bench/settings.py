"""Settings for benchmark workers: the project's, pointed at the benchmark's Redis, with
the benchmark tasks installed and per-task logging quiet (as for every peer)."""

import os
import tempfile

from config.settings import *  # noqa: F403

INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "demo"] + ["bench"]  # noqa: F405
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(tempfile.gettempdir(), "taskqueue-bench.sqlite3"),
    }
}
TASKQUEUE = {
    "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6390/0"),
    "PREFIX": "bench",
    "QUEUES": ["default"],
    "IMPORTS": ["bench.limit_tasks"],  # bench/limits_bench.py's tasks
}
