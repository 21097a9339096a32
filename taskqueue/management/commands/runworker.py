"""`python manage.py runworker`: run taskqueue workers (see docs/worker.md).

Channels ships a `runworker` command too; `taskqueue` is listed before `channels` in
INSTALLED_APPS, so this is the one Django runs.
"""

import os
import sys
import threading

from django.core.management.base import BaseCommand, CommandError

from taskqueue import safety
from taskqueue.conf import get_config
from taskqueue.errors import TaskQueueError
from taskqueue.registry import registry
from taskqueue.worker import logs
from taskqueue.worker.child import flush_before_exit
from taskqueue.worker.options import WorkerOptions, default_queues, parse_queues
from taskqueue.worker.supervisor import Supervisor
from taskqueue.worker.worker import Worker


class Command(BaseCommand):
    help = "Run a taskqueue worker: claim tasks from Redis and run them."
    # Only taskqueue's own checks at start-up (handle()): Django's URL, admin and model
    # checks import every view, the admin and the migration loader, about 4 MB of a
    # worker's RSS for nothing it runs. `manage.py check` and the web process run them.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--queues",
            default="",
            help="high,default,low (strict order) or high:5,default:2,low:1 (weighted). "
            "Default: TASKQUEUE['QUEUES'], then every other queue a registered task or a "
            "periodic schedule sends tasks to.",
        )
        parser.add_argument(
            "--concurrency",
            type=int,
            default=10,
            help="Tasks run at once per process (threads for sync tasks).",
        )
        parser.add_argument(
            "--prefetch",
            type=int,
            default=None,
            help="Tasks claimed ahead of free slots, so one round trip feeds several "
            "(default: as many as --concurrency, at least 4; 0 turns it off).",
        )
        parser.add_argument(
            "--processes",
            type=int,
            default=None,
            help="Run N supervised worker processes (hard time limits, crash recovery). "
            "Without it: one worker process, no supervisor.",
        )
        parser.add_argument("--burst", action="store_true", help="Run what is queued, then exit 0.")
        parser.add_argument("--name", default="", help="A name for this worker in the registry.")
        parser.add_argument(
            "--grace",
            type=float,
            default=30.0,
            help="Seconds running tasks get to finish on SIGTERM.",
        )
        parser.add_argument(
            "--max-tasks-per-child",
            type=int,
            default=None,
            help="With --processes: replace a child after N tasks.",
        )
        parser.add_argument("--log-format", choices=("text", "json"), default="text")
        parser.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"))

    def handle(self, *args, **o):
        self.check(tags=["taskqueue"])  # E015 (an IMPORTS module fails) refuses to start
        options = self._options(o)
        try:
            safety.refuse_insecure(get_config())
        except safety.InsecureRedis as exc:
            raise CommandError(str(exc)) from None
        logs.configure(options.log_format, o["log_level"].upper())
        safety.check_server_when_reachable(get_config())  # logs eviction/persistence risks
        periodic = get_config().PERIODIC
        if o["processes"] is not None:
            code = Supervisor(options, get_config(), periodic=periodic).run()
        else:
            code = Worker(options, get_config(), periodic=periodic).run()
        _exit(code)

    def _options(self, o) -> WorkerOptions:
        try:
            config = get_config()
            if o["queues"]:
                queues, weights = parse_queues(o["queues"])
            else:
                queues, weights = default_queues(config, registry), None
        except TaskQueueError as exc:
            raise CommandError(str(exc)) from None
        if o["prefetch"] is not None and o["prefetch"] < 0:
            raise CommandError("--prefetch must be 0 or more.")
        if o["concurrency"] < 1 or (o["processes"] is not None and o["processes"] < 1):
            raise CommandError("--concurrency and --processes must be at least 1.")
        if o["grace"] < 0 or (
            o["max_tasks_per_child"] is not None and o["max_tasks_per_child"] < 1
        ):
            raise CommandError("--grace must be >= 0 and --max-tasks-per-child >= 1.")
        return WorkerOptions(
            queues=queues,
            weights=weights,
            concurrency=o["concurrency"],
            prefetch=o["prefetch"],
            processes=o["processes"] or 1,
            burst=o["burst"],
            name=o["name"],
            grace=o["grace"],
            max_tasks_per_child=o["max_tasks_per_child"],
            log_format=o["log_format"],
        )


def _exit(code: int) -> None:
    """Exit now if a task thread is still running past its time limit (Python cannot
    stop a thread; its task was already released or failed), else return normally."""
    lingering = [
        t for t in threading.enumerate() if t.name.startswith("taskqueue-task") and t.is_alive()
    ]
    if lingering:
        flush_before_exit()  # spans and hook events: os._exit skips the exit handlers
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    if code:
        sys.exit(code)
