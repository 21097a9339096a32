"""The broker is the only code that knows Redis: its keys, its commands and the fields
of what it stores. Every other module of the product (the engine outside
taskqueue/broker/, the API, the console, the project) goes through the broker's
operations and reads, which answer typed values (outcomes.py, records.py).

Read with `ast`, so a new module is checked without being listed. Record fields can
only be named where a hash is read: through a Redis client or the broker's private
helpers, both of which are refused outside the broker (checks 2 and 4)."""

import ast
from pathlib import Path

import pytest

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
