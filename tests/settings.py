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

# The project's channel layer is the embedded Redis of `make run` (var/redis/redis.sock)
# unless CHANNELS_REDIS_URL says otherwise: the test process must never send to a Redis
# it did not start (a test that changes a user's access sends to the layer). Processes
# a test starts get CHANNELS_REDIS_URL (the session's Redis; tests/console/servers.py),
# and a test that wants channels-redis points CHANNEL_LAYERS at that Redis itself.
if not os.environ.get("CHANNELS_REDIS_URL"):
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# The test modules (and tests/support/tasks.py) define tasks in the test process only,
# which taskqueue.W003 rightly names; hidden from management commands' output here.
# tests/test_task_imports.py tests W003 itself (run_checks returns silenced messages).
SILENCED_SYSTEM_CHECKS = ["taskqueue.W003"]
