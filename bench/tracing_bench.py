"""What OpenTelemetry tracing costs an enqueue and a task's run (issue 20;
docs/observability.md, docs/PERFORMANCE.md#tracing).

    .venv/bin/python bench/tracing_bench.py [--tasks 1000] [--rounds 9]

Against one private redis-server (a free loopback port, no persistence, started and
stopped here), three modes back to back in each round, in turns first:

- `off`: no TracerProvider (the state of a project that configured none, or lacks
  opentelemetry-api): the hooks are skipped by one test of `tracing.enabled`;
- `on`: an SDK TracerProvider with no span processor (spans are made, then dropped);
- `on+export`: the same with a BatchSpanProcessor to an exporter that drops them (the
  cost of handing spans to an exporter, without the network).

Each round enqueues `--tasks` tasks one `.enqueue()` at a time (a round trip each,
inside no span), then drains them with an in-process burst worker (`--concurrency 4`,
a sync body that returns at once). Medians over the rounds, µs per task. The flag test
itself is timed apart (ns).
"""

import argparse
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import (  # noqa: E402
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

from taskqueue import client, conf, task, tracing  # noqa: E402
from taskqueue.embedded_redis import RedisProcess, free_port  # noqa: E402
from taskqueue.worker.options import WorkerOptions  # noqa: E402
from taskqueue.worker.worker import Worker  # noqa: E402

MODES = ("off", "on", "on+export")


@task(name="bench.tracing.noop", max_retries=0)
def noop(n: int) -> None:
    pass


class Dropped(SpanExporter):
    def export(self, spans) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def providers() -> dict:
    exporting = TracerProvider()
    exporting.add_span_processor(BatchSpanProcessor(Dropped()))
    return {"off": None, "on": TracerProvider(), "on+export": exporting}


def use(mode: str, provider) -> None:
    if provider is None:
        tracing.reset()  # the global provider: none is set here
    else:
        tracing.configure(provider)


def enqueue(n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        noop.enqueue(i)
    return (time.perf_counter() - started) / n


def drain(n: int) -> float:
    options = WorkerOptions(queues=("default",), concurrency=4, burst=True, grace=2.0)
    started = time.perf_counter()
    assert Worker(options, conf.get_config()).run(install_signals=False) == 0
    return (time.perf_counter() - started) / n


def flag_test_ns() -> float:
    tracing.reset()
    noop.enqueue(0)  # decides: off
    assert tracing.enabled is False
    loops = 2_000_000
    spent = timeit.timeit("if tracing.enabled: pass", globals={"tracing": tracing}, number=loops)
    empty = timeit.timeit("pass", number=loops)
    return (spent - empty) / loops * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    logging.getLogger("taskqueue.worker").setLevel(logging.WARNING)  # a line per worker
    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs")
    print(f"{args.tasks} tasks per run, median of {args.rounds} rounds, µs per task")
    with (
        tempfile.TemporaryDirectory() as data,
        RedisProcess(Path(data), port=free_port(), persistent=False) as redis,
    ):
        settings.TASKQUEUE = {**settings.TASKQUEUE, "REDIS_URL": redis.url}
        conf.reset_config()
        client.reset()
        made = providers()
        times = {(m, k): [] for m in MODES for k in ("enqueue", "run")}
        use("off", None)
        enqueue(100), drain(100)  # warm up
        for i in range(args.rounds):
            for mode in MODES if i % 2 else reversed(MODES):
                use(mode, made[mode])
                times[mode, "enqueue"].append(enqueue(args.tasks))
                times[mode, "run"].append(drain(args.tasks))
        print(f"load {os.getloadavg()[0]:.2f}\n")
        print(f"{'mode':10} {'enqueue':>9} {'run':>9} {'both':>9}")
        for mode in MODES:
            e = statistics.median(times[mode, "enqueue"]) * 1e6
            r = statistics.median(times[mode, "run"]) * 1e6
            print(f"{mode:10} {e:9.1f} {r:9.1f} {e + r:9.1f}", flush=True)
        print(f"\nthe flag test when off: {flag_test_ns():.1f} ns (one per enqueue, two per task)")
        tracing.reset()
        for provider in made.values():
            if provider is not None:
                provider.shutdown()
        client.reset()


if __name__ == "__main__":
    main()
