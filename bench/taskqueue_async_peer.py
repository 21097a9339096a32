"""Peer-harness adapter for taskqueue with an `async def` task body."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import taskqueue_peer as base

from bench.tasks import anoop

NAME = "taskqueue-async"
PACKAGES = base.PACKAGES
BULK_API = base.BULK_API
VENV = "~/.cache/bench-peers/venv-taskqueue"
CONFIGS = base.CONFIGS
base.TASK = anoop
client, enqueue, enqueue_bulk = base.client, base.enqueue, base.enqueue_bulk
worker_cmd, worker_env = base.worker_cmd, base.worker_env
