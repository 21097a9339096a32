"""Peer-harness adapter for taskqueue (sync task body). See bench/README.md.

The harness reads VENV (a literal) and runs this module and the worker with that
interpreter; `bench/run_peers.py` points ~/.cache/bench-peers/venv-taskqueue at the
project's .venv before it runs the harness.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django  # noqa: E402

django.setup()

import taskqueue  # noqa: E402
from bench.tasks import noop  # noqa: E402

NAME = "taskqueue"
PACKAGES = ["Django", "redis", "hiredis"]
BULK_API = "taskqueue.enqueue_many([task.prepare(...)])  (one EVALSHA for the batch)"
VENV = "~/.cache/bench-peers/venv-taskqueue"
TASK = noop

CONFIGS = {
    "default": (10, "runworker defaults (1 process, concurrency 10)", []),
    "c1": (1, "runworker --concurrency 1", ["--concurrency", "1"]),
    "p2": (20, "runworker --processes 2 (supervised, 10 each)", ["--processes", "2"]),
}


def client():
    return None


def enqueue(_client, t_enq):
    TASK.enqueue(t_enq)


def enqueue_bulk(_client, t_enqs):
    taskqueue.enqueue_many([TASK.prepare(t) for t in t_enqs])


def worker_cmd(venv_bin, config):
    return [
        os.path.join(venv_bin, "python"),
        os.path.join(ROOT, "manage.py"),
        "runworker",
        "--log-level",
        "WARNING",
        *CONFIGS[config][2],
    ]


def worker_env(config):
    here = os.environ.get("PYTHONPATH", "")
    return {"DJANGO_SETTINGS_MODULE": "bench.settings", "PYTHONPATH": os.pathsep.join([here, ROOT])}
