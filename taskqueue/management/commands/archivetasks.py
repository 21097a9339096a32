"""`manage.py archivetasks [--loop]`: copy finished tasks from Redis into the archive
table and apply its retention (see taskqueue/archive.py). Without --loop it runs until
caught up; with --loop it keeps going (sharing the archive lock with the workers) until
SIGTERM or Ctrl-C."""

import logging
import signal
import threading

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from taskqueue import archive
from taskqueue.conf import get_config
from taskqueue.errors import BrokerUnavailable
from taskqueue.management.cli import engine_errors

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Archive finished tasks from Redis into the database (once, or with --loop)."

    def __init__(self, *args, stop: threading.Event | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.stop = stop or threading.Event()

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="keep archiving until stopped")
        parser.add_argument("--batch", type=int, default=archive.DEFAULT_BATCH, metavar="N")
        parser.add_argument(
            "--interval",
            type=float,
            metavar="SECONDS",
            help="seconds between runs with --loop (default: TASKQUEUE['ARCHIVE_INTERVAL'])",
        )

    def handle(self, *args, loop: bool, batch: int, interval: float | None, **options):
        if batch < 1:
            raise CommandError(f"--batch must be at least 1, not {batch}.")
        if interval is not None and not interval > 0:
            raise CommandError(f"--interval must be a number of seconds > 0, not {interval}.")
        if not loop:
            with engine_errors():
                written = archive.archive_once(batch)
            self.stdout.write(f"Archived {written} task(s).")
            return
        self._install_signals()
        self.loop(interval or get_config().ARCHIVE_INTERVAL, batch)

    def loop(self, interval: float, batch: int) -> None:
        """Archive when due until self.stop is set; soon again while work is left."""
        while not self.stop.is_set():
            _drop_stale_connections()
            try:
                written = archive.archive_if_due(interval=interval, batch=batch)
            except BrokerUnavailable as exc:
                log.warning("archivetasks: %s; trying again in %.0f s", exc, interval)
                written = None
            if written:
                self.stdout.write(f"Archived {written} task(s).")
            self.stop.wait(min(1.0, interval) if written else interval)

    def _install_signals(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.stop.set())


def _drop_stale_connections() -> None:
    """Between runs, close database connections that broke or outlived CONN_MAX_AGE
    (as Django does per request), never one inside a transaction."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()
