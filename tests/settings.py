"""Settings for the test suite and the worker processes tests start: the project's
settings plus a test app with tasks, and the Redis URL / key prefix from the
environment (each test's own prefix on the session's private redis-server)."""

import json
import os

from config.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.taskapp"]  # noqa: F405

TASKQUEUE = {
    "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:1/0"),
    "PREFIX": os.environ.get("TASKQUEUE_PREFIX", "tq"),
    "QUEUES": ["default"],
    "LEASE_SECONDS": float(os.environ.get("TASKQUEUE_LEASE_SECONDS", "30")),
    "PERIODIC": json.loads(os.environ.get("TASKQUEUE_PERIODIC", "{}")),
    "SHARDS": json.loads(os.environ.get("TASKQUEUE_SHARDS", "{}")),
    # any other options a test's worker processes need, e.g. {"RESULT_TTL": 5}
    **json.loads(os.environ.get("TASKQUEUE_EXTRA", "{}")),
}
TASKS = {"default": {**TASKS["default"], "QUEUES": TASKQUEUE["QUEUES"]}}  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
