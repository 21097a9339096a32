"""The broker is the only code that knows Redis: its keys, its commands and the fields
of what it stores. Every other module of the product (the engine outside
taskqueue/broker/, the API, the console, the project) goes through the broker's
operations and reads, which answer typed values (outcomes.py, records.py).

Read with `ast`, so a new module is checked without being listed. Record fields can
only be named where a hash is read: through a Redis client or the broker's private
helpers, both of which are refused outside the broker (checks 2 and 4).

What the broker answers is typed: a plain dict in an answer is listed below with why
its keys are not names the broker stores (the last checks). A counter hash that came
back as dict[str, int] was read by its field names all over the API and the console
(issue 15); it is a dataclass now (counters.py). Looking for string subscripts instead
would not do: "failed", "lost", "completed" also key dicts that are not the broker's.
The histograms' fields are looked for as spelled ('b<i>' as f"b{i}", 'sum_ms'): their
hashes came back as dicts too, read by those names in the charts and /metrics."""

import ast
import dataclasses
import inspect
import typing
from collections.abc import Mapping
from pathlib import Path

import pytest

from taskqueue.broker import AsyncRedisBroker, RedisBroker

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("taskqueue", "api", "dashboard", "devserver", "demo", "config")
BROKER = ROOT / "taskqueue" / "broker"

# redis-py's command methods that no other library of ours calls by these names
COMMANDS = {
    "hset", "hget", "hgetall", "hmget", "hincrby", "hdel", "hkeys", "hstrlen", "hexists",
    "zadd", "zrem", "zcard", "zscore", "zrange", "zrevrange", "zrangebyscore",
    "zrevrangebyscore", "zremrangebyscore", "sadd", "srem", "smembers", "sismember",
    "xadd", "xread", "xrange", "xrevrange", "xdel", "xtrim", "blpop", "brpop", "lpush",
    "rpush", "lpop", "rpop", "llen", "expire", "pexpire", "incr", "incrby", "evalsha",
    "register_script", "config_get", "setnx", "execute_command", "scan_iter", "pipeline",
    "flushdb", "flushall", "dbsize",
}  # fmt: skip
# what the broker keeps to itself: its client, key builder, scripts
PRIVATE_ATTRIBUTES = {"client", "scripts", "ops"}
# modules of the broker that are its inside (the package, outcomes, the brokers and the
# request types are its outside)
INSIDE = {"keys", "scripts", "connection", "codec", "damage", "bounded", "reads", "state",
          "cluster", "shards", "server", "errors"}  # fmt: skip


def product_modules() -> list[Path]:
    found = []
    for package in PRODUCT:
        found += [p for p in (ROOT / package).rglob("*.py") if BROKER not in p.parents]
    return sorted(p for p in found if "migrations" not in p.parts)


MODULES = product_modules()


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{node.lineno}"


def test_the_product_modules_are_found():
    names = {p.relative_to(ROOT).as_posix() for p in MODULES}
    assert {"taskqueue/services.py", "api/views/tasks.py", "dashboard/views.py"} <= names
    assert not any(n.startswith("taskqueue/broker/") for n in names)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_module_outside_the_broker_imports_redis(path):
    found = [
        where(path, node)
        for node in ast.walk(parsed(path))
        if (
            isinstance(node, ast.Import)
            and any(a.name.split(".")[0] == "redis" for a in node.names)
        )
        or (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "redis")
    ]
    assert found == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_module_outside_the_broker_calls_a_redis_command(path):
    found = [
        f"{where(path, node)} .{node.func.attr}()"
        for node in ast.walk(parsed(path))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in COMMANDS
    ]
    assert found == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_module_outside_the_broker_reaches_into_a_broker(path):
    """No `broker.client`, `broker.keys.x`, `broker.ops`, `broker._private()`."""
    found = []
    for node in ast.walk(parsed(path)):
        if not isinstance(node, ast.Attribute) or "broker" not in ast.unparse(node.value):
            continue
        name = node.attr
        if name in PRIVATE_ATTRIBUTES or name == "keys" or name.startswith("_"):
            found.append(f"{where(path, node)} {ast.unparse(node)}")
    assert found == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_module_outside_the_broker_imports_its_inside(path):
    found = []
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.ImportFrom):
            module = (node.module or "").split(".")
            if ("broker" in module and module[-1] in INSIDE) or (
                module[-1] == "broker" and {a.name for a in node.names} & INSIDE
            ):
                found.append(f"{where(path, node)} {node.module}")
    assert found == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_module_outside_the_broker_spells_a_key(path):
    """A key of a queue carries its hash tag: '<prefix>:{<queue>}:<kind>'."""
    found = [
        f"{where(path, node)} {node.value!r}"
        for node in ast.walk(parsed(path))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and (":{" in node.value or node.value.startswith(("tq:", "task:", "idem:")))
    ]
    assert found == []


# Dicts in the brokers' answers ('Broker.method()': the answer itself; 'Type.field': a
# field of a dataclass or named tuple in an answer) whose keys are not the broker's
# names, so reading them by key outside the broker is fine.
PLAIN_DICTS = {
    "RedisBroker.dead_errors()": "exception type -> dead letters (names the tasks raised)",
    "RedisBroker.periodic_state()": "schedule name (the project's) -> a named tuple",
    "RedisBroker.hashes()": "raw hashes for the broker's mixins: it takes keys, which only "
    "the broker builds",
    "Attempt.error": "the failure the worker reported ({type, message, traceback}), shown",
    "TaskRecord.unreadable": "record field -> why it is not shown: a note for people",
    "HistoryBucket.runtimes": "task name (the project's) -> its runtime histogram",
    "NodeStatus.settings": "Redis CONFIG names -> values, judged by safety.py by design",
    "Submitted.rebound": "workflow node -> the id of the task it was bound to",
}


def _is_record_type(cls: object) -> bool:
    return (
        isinstance(cls, type)
        and cls.__module__.split(".")[0] in ("taskqueue", "tests")  # ours, not a library's
        and (dataclasses.is_dataclass(cls) or (issubclass(cls, tuple) and hasattr(cls, "_fields")))
    )


def dicts_in_answers(*brokers: type) -> set[str]:
    """Where a dict (any Mapping) sits in what the brokers' public methods answer, by
    their annotations, looking into the dataclasses and named tuples they answer."""
    found: set[str] = set()
    seen: set[type] = set()

    def walk(hint: object, where: str) -> None:
        origin = typing.get_origin(hint) or hint
        if isinstance(origin, type) and issubclass(origin, Mapping):
            found.add(where)
        for arg in typing.get_args(hint):
            walk(arg, where)
        if _is_record_type(origin) and origin not in seen:
            seen.add(origin)
            for name, field_hint in typing.get_type_hints(origin).items():
                walk(field_hint, f"{origin.__name__}.{name}")

    for broker in brokers:
        for name, method in inspect.getmembers(broker, callable):
            if not name.startswith("_"):
                answer = typing.get_type_hints(inspect.unwrap(method)).get("return")
                walk(answer, f"{broker.__name__}.{name}()")
    return found


@dataclasses.dataclass
class _Counts:
    queue: str
    stats: dict[str, int]


class _UntypedBroker:
    def counts(self, queue: str) -> _Counts: ...

    def per_minute(self, queue: str) -> list[dict]: ...

    def workflow_counters(self) -> dict[str, int] | None: ...

    def queues(self) -> list[str]: ...

    def _internal(self) -> dict: ...


def test_a_counter_hash_answered_as_a_dict_is_found_in_an_answer_and_in_its_fields():
    assert dicts_in_answers(_UntypedBroker) == {
        "_Counts.stats",
        "_UntypedBroker.per_minute()",
        "_UntypedBroker.workflow_counters()",
    }


def test_every_dict_the_brokers_answer_is_keyed_by_something_else_than_their_names():
    found = dicts_in_answers(RedisBroker, AsyncRedisBroker)
    assert sorted(found - PLAIN_DICTS.keys()) == []
    assert sorted(PLAIN_DICTS.keys() - found) == []  # typed since: take it off the list


def test_the_histograms_of_a_history_bucket_are_typed():
    """Their hashes' fields ('b<i>', 'sum_ms', 'count') were read by name by the
    console's charts and /metrics: BucketCounts (counters.py) now."""
    found = dicts_in_answers(RedisBroker, AsyncRedisBroker)
    assert "HistoryBucket.waits" not in found
    assert "HistoryBucket.runtimes" in found  # keyed by task names, its values typed


def _histogram_fields(tree: ast.AST) -> list[ast.AST]:
    """f"b{i}" (a histogram bucket's field) and "sum_ms" (its sum's)."""
    return [
        node
        for node in ast.walk(tree)
        if (isinstance(node, ast.Constant) and node.value == "sum_ms")
        or (
            isinstance(node, ast.JoinedStr)
            and len(node.values) == 2
            and isinstance(node.values[0], ast.Constant)
            and node.values[0].value == "b"
            and isinstance(node.values[1], ast.FormattedValue)
        )
    ]


def test_a_histogram_field_is_found_where_it_is_spelled():
    text = 'a = parts.get(f"b{i}", 0)\nb = parts["sum_ms"]\nc = f"b{i}:{j}"\nd = h.sum_ms'
    found = {ast.unparse(n) for n in _histogram_fields(ast.parse(text))}
    assert found == {"f'b{i}'", "'sum_ms'"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_module_outside_the_broker_spells_a_histogram_field(path):
    found = [f"{where(path, n)} {ast.unparse(n)}" for n in _histogram_fields(parsed(path))]
    assert found == []
