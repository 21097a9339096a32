"""The flow-control benchmark's task bodies (bench/limits_bench.py).

`bench.limited` records when it started: one RPUSH of `time.time()` to the list its
argument names, on the broker's Redis (the benchmark's private redis-server). The
benchmark gives it its limit at run time (queue scope or its own task scope), so the
decorator declares none. `bench.unlimited` does nothing: the traffic that flows beside
a task-scope limit, counted from the queue's completed count.

Listed in bench/settings.py's TASKQUEUE["IMPORTS"]: the workers load it.
"""

import time

from taskqueue import task
from taskqueue.client import connect
from taskqueue.conf import get_config

_clients: dict = {}


def _client():
    client = _clients.get("r")
    if client is None:  # one client (and pool) per process, shared by its threads
        client = _clients["r"] = connect(get_config().REDIS_URL)
    return client


@task(name="bench.limited")
def limited(key: str) -> None:
    _client().rpush(key, repr(time.time()))


@task(name="bench.unlimited")
def unlimited() -> None:
    pass


@task(name="bench.work")
def work(ms: float = 5.0, started: str = "") -> None:
    """Some work: sleeps `ms` (the fairness benchmark's tasks, bench/fairness_bench.py).
    With `started`, first records when the body began: field `started` of the hash
    bench:started gets `time.time()`."""
    if started:
        _client().hset("bench:started", started, repr(time.time()))
    time.sleep(ms / 1000)
