"""Fixtures of the fault-injection suite (see rig.py for the whole picture).

Each test gets its own redis-server (`fault_redis`, or several via `make_fault_redis`),
its own ledger directory, its own worker processes, and the test process's taskqueue
settings pointed at its Redis (`make_producer`, `taskqueue_at`) under the test's prefix.
When a test fails, the tails of its worker and Redis logs are printed.
"""

import pytest

from taskqueue import client, conf

from ..support.failures import failed, tail
from .ledger import Ledger
from .rig import FaultRedis, Producer, WorkerPool


@pytest.fixture
def make_fault_redis(request, tmp_path):
    """make_fault_redis(persistent=True, extra_args=()) -> a started FaultRedis."""
    servers: list[FaultRedis] = []

    def make(*, persistent: bool = True, extra_args=(), start: bool = True) -> FaultRedis:
        server = FaultRedis(
            tmp_path / f"redis-{len(servers)}", persistent=persistent, extra_args=extra_args
        )
        servers.append(server)
        return server.start() if start else server

    yield make
    for server in servers:
        if failed(request):
            print(f"--- redis log {server.log_path} ---\n{tail(server.log_path, 20)}")
        server.close()


@pytest.fixture
def fault_redis(make_fault_redis) -> FaultRedis:
    """A private redis-server with AOF (everysec), noeviction and DEBUG enabled."""
    return make_fault_redis()


@pytest.fixture
def ledger(tmp_path) -> Ledger:
    return Ledger(tmp_path / "ledger")


@pytest.fixture
def taskqueue_at(settings, tq_prefix):
    """taskqueue_at(url, **options): this process's TASKQUEUE setting -> that Redis."""

    def point(url: str, **options) -> None:
        settings.TASKQUEUE = {
            "REDIS_URL": url,
            "PREFIX": tq_prefix,
            "QUEUES": ["default"],
            **options,
        }
        client.reset()
        conf.reset_config()

    yield point
    client.reset()
    conf.reset_config()


@pytest.fixture
def make_producer(request, taskqueue_at):
    """make_producer(url=None, **Producer options): points this process at `url` (the
    test's fault_redis by default) and returns a Producer."""
    producers: list[Producer] = []

    def make(url: str | None = None, **options) -> Producer:
        taskqueue_at(url or request.getfixturevalue("fault_redis").url)
        producer = Producer(**options)
        producers.append(producer)
        return producer

    yield make
    for producer in producers:
        producer.stop_event.set()
        if producer._thread is not None:
            producer._thread.join(30)
        if failed(request):
            print(f"producer: {producer.summary()}")


@pytest.fixture
def worker_pool(request, tmp_path, tq_prefix, ledger):
    """worker_pool(n=3, *, redis=None, url=None, lease=30.0, args=(), env=None,
    command=None, restart=True, start=True) -> a started WorkerPool on the test's
    fault_redis (or `redis`, or any `url`: a proxy), writing to the test's ledger."""
    pools: list[WorkerPool] = []

    def make(
        n: int = 3,
        *,
        redis: FaultRedis | None = None,
        url: str | None = None,
        lease: float = 30.0,
        args=(),
        env: dict | None = None,
        command=None,
        restart: bool = True,
        start: bool = True,
    ) -> WorkerPool:
        if url is None:
            url = (redis or request.getfixturevalue("fault_redis")).url
        pool = WorkerPool(
            n,
            redis_url=url,
            prefix=tq_prefix,
            log_dir=tmp_path,
            ledger_dir=ledger.path,
            lease=lease,
            args=args,
            env=env,
            command=command,
            restart=restart,
        )
        pools.append(pool)
        return pool.start() if start else pool

    yield make
    it_failed = failed(request)
    for pool in pools:
        pool.close()
        if it_failed:
            print(f"--- worker pool: {pool.restarts} restarts, {len(pool.kills)} signals sent ---")
            print(pool.tails())
