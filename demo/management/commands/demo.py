"""`python manage.py demo --rate 20`: enqueue a mix of the demo tasks, `--rate` per
second, until stopped (or `--count` tasks were sent). `manage.py runall` starts it."""

import random
import signal
import threading
import time

from django.core.management.base import BaseCommand, CommandError

import taskqueue
from taskqueue.errors import BrokerUnavailable

from ...traffic import batch, pipeline

TICK = 0.25  # seconds between two batches
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Command(BaseCommand):
    help = "Generate demo traffic: enqueue a mix of the demo tasks at a steady rate."

    def add_arguments(self, parser):
        parser.add_argument("--rate", type=float, default=20.0, help="Tasks per second.")
        parser.add_argument("--count", type=int, default=None, help="Stop after this many.")
        parser.add_argument("--seed", type=int, default=None, help="Seed the random mix.")
        parser.add_argument(
            "--workflow-every",
            type=float,
            default=5.0,
            help="Seconds between two example workflows (0: none).",
        )

    def handle(self, *args, rate: float, count: int | None, seed: int | None, **options):
        if rate <= 0:
            raise CommandError("--rate must be above 0.")
        if options["workflow_every"] < 0:
            raise CommandError("--workflow-every must be 0 or more.")
        self.workflow_every = options["workflow_every"]
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in STOP_SIGNALS}
        try:
            self.stdout.write(f"demo: enqueueing about {rate:g} tasks a second (Ctrl-C stops).")
            sent = self.run(rate, count, random.Random(seed), stop)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write(f"demo: enqueued {sent} tasks.")

    def run(self, rate: float, count: int | None, rng: random.Random, stop) -> int:
        """Keep the number sent at rate x elapsed time (+1: the first one at once)."""
        sent, started = 0, time.monotonic()
        next_workflow = started
        while not stop.is_set() and (count is None or sent < count):
            if self.workflow_every and time.monotonic() >= next_workflow:
                next_workflow = time.monotonic() + self.workflow_every
                self.send_workflow(rng)
            due = int(rate * (time.monotonic() - started)) + 1 - sent
            due = min(due, max(1, int(rate)))  # after an outage: no burst to catch up
            if count is not None:
                due = min(due, count - sent)
            if due > 0:
                sent += self.send(due, rng)
            stop.wait(TICK)
        return sent

    def send_workflow(self, rng: random.Random) -> None:
        try:
            pipeline(rng)
        except BrokerUnavailable as exc:
            self.stderr.write(f"demo: Redis is unavailable ({exc}); retrying.")

    def send(self, size: int, rng: random.Random) -> int:
        try:
            taskqueue.enqueue_many(batch(size, rng))
        except BrokerUnavailable as exc:
            self.stderr.write(f"demo: Redis is unavailable ({exc}); retrying.")
            return 0
        return size
