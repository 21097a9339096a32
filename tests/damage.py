"""Writing keys of the wrong type (the Redis type confusion of issue 13), for the tests
of broker/damage.py: a value of each Redis type, and what to look for afterwards."""

from prometheus_client import CollectorRegistry, generate_latest

from api.metrics import TaskQueueCollector
from taskqueue import inspect
from taskqueue.broker.damage import QUARANTINE_TTL_S
from taskqueue.inspect import TaskFilter
from taskqueue.status import Status

WRITERS = {
    "string": lambda r, key: r.set(key, "garbage"),
    "list": lambda r, key: r.rpush(key, "garbage"),
    "set": lambda r, key: r.sadd(key, "garbage"),
    "zset": lambda r, key: r.zadd(key, {"garbage": 1}),
    "hash": lambda r, key: r.hset(key, "garbage", "x"),
    "stream": lambda r, key: r.xadd(key, {"garbage": "x"}),
}


def wrong_types(expected: str) -> list[str]:
    return [t for t in WRITERS if t != expected]


def spoil(r, key: str, kind: str) -> None:
    """Put a value of Redis type `kind` at `key` (whatever was there goes)."""
    r.delete(key)
    WRITERS[kind](r, key)


def assert_moved_aside(r, base: str, suffix: str, kind: str) -> None:
    """The key `base + suffix` was quarantined: its value is kept, with a TTL, under
    `base + 'quarantine:' + suffix`, and the queue counted it."""
    target = f"{base}quarantine:{suffix}"
    assert r.type(target) == kind, f"{target} holds no {kind}"
    assert 0 < r.ttl(target) <= QUARANTINE_TTL_S
    assert int(r.hget(base + "stats", "quarantined") or 0) >= 1


def read_everything(queue: str = "default") -> None:
    """Every read the API and the console make, for one queue; none may raise."""
    inspect.queues()
    inspect.queue_summary(queue)
    inspect.queue_counts(queue)
    for status in (None, *Status):
        inspect.list_tasks(queue, status)
    inspect.search_tasks(TaskFilter())
    inspect.search_tasks(TaskFilter(name="tests.noop"))
    inspect.dead_letters(TaskFilter())
    inspect.dead_groups()
    inspect.workers()
    inspect.runtime_histograms(queue)
    inspect.periodic_schedules()
    inspect.global_damage()
    inspect.follow_events({}, block_ms=1)
    registry = CollectorRegistry(auto_describe=False)
    collector = TaskQueueCollector()
    collector.read()
    registry.register(collector)
    generate_latest(registry)
