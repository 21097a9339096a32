"""What a claim costs Redis (issue 19's history: the wait histograms claim_tasks.lua
writes), as Redis itself reports it: `INFO commandstats`' usec_per_call of EVALSHA
while only claims run.

    .venv/bin/python bench/claim_cost.py [--tasks 20000] [--rounds 5] [--against HEAD]

Against one private redis-server (a free loopback port, no persistence, started and
stopped here): each round enqueues `--tasks` tasks, resets the statistics, claims them
all in claims of 1 and of 10 tasks (a worker's prefetch), and reads the EVALSHA line.
The median and the least of the rounds are printed per batch size (on a loaded
machine the least is the steadier figure: other processes only ever add time). Nothing
runs the tasks. With `--against <git ref>`, each round also runs claim_tasks.lua as it
is at that commit (read with `git show`), interleaved with the working tree's, so both
see the same load.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from taskqueue import client, conf  # noqa: E402
from taskqueue.broker import scripts  # noqa: E402
from taskqueue.embedded_redis import RedisProcess, free_port  # noqa: E402
from taskqueue.priority import band_of, level_of  # noqa: E402
from taskqueue.records import NewTask  # noqa: E402


def new_task(i: int) -> NewTask:
    return NewTask(
        f"bench-{i}", "bench.claim", "default", f"[{i}]", "{}", 5, band_of(level_of(5)), 3, None
    )


def one_round(broker, tasks: int, batch: int) -> float:
    redis = broker.client
    redis.flushdb()
    for start in range(0, tasks, 1000):
        broker.enqueue([new_task(i) for i in range(start, min(tasks, start + 1000))])
    redis.config_resetstat()
    claimed = 0
    while claimed < tasks:
        got = broker.claim("default", "bench-worker", batch)
        if not got:
            break
        claimed += len(got)
    stats = redis.info("commandstats")
    return float(stats["cmdstat_evalsha"]["usec_per_call"])


def source_at(ref: str, name: str) -> str:
    """lua/<name>.lua at a git commit, its includes inlined as scripts.source does."""

    def read(relative: str) -> str:
        path = f"taskqueue/broker/lua/{relative}"
        return subprocess.run(["git", "show", f"{ref}:{path}"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout  # fmt: skip

    return re.sub(
        r'^--- @include "([a-z_]+)"$', lambda m: read(f"includes/{m.group(1)}.lua"),
        read(f"{name}.lua"), flags=re.MULTILINE,
    )  # fmt: skip


def use(broker, text: str) -> None:
    """Make the broker's claim run `text` (a bench only: reaches into its scripts)."""
    count = scripts.declared_keys("claim_tasks")
    broker.scripts._scripts["claim_tasks"] = (broker.client.register_script(text), count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--against", help="a git ref whose claim_tasks.lua runs too")
    args = parser.parse_args()
    variants = {"working tree": scripts.source("claim_tasks")}
    if args.against:
        variants = {args.against: source_at(args.against, "claim_tasks")} | variants
    with tempfile.TemporaryDirectory() as folder:
        server = RedisProcess(Path(folder), port=free_port(), persistent=False)
        server.start()
        try:
            settings.TASKQUEUE = {**settings.TASKQUEUE, "REDIS_URL": server.url}
            conf.reset_config()
            client.reset()
            broker = client.get_broker()
            for batch in (1, 10):
                rounds: dict[str, list[float]] = {name: [] for name in variants}
                for r in range(args.rounds):
                    order = list(variants.items())
                    for name, text in order if r % 2 else order[::-1]:  # no order bias
                        use(broker, text)
                        rounds[name].append(one_round(broker, args.tasks, batch))
                for name, found in rounds.items():
                    print(
                        f"claim of {batch:>2}, {name:>12}: median {statistics.median(found):6.2f}"
                        f" us per call, least {min(found):6.2f} (rounds: "
                        f"{', '.join(f'{r:.1f}' for r in found)})"
                    )
        finally:
            client.reset()
            server.stop()


if __name__ == "__main__":
    main()
