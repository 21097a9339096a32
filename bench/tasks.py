"""The benchmark's task bodies: exactly the peers' body (one RPUSH of three times).

`adapters._common` comes from the shared peer harness (on PYTHONPATH when it runs)."""

import time

import redis.asyncio

from taskqueue import task

try:
    from adapters._common import REDIS_URL, record_async, record_sync
except ImportError:  # imported outside the harness (e.g. by `manage.py check`)
    REDIS_URL, record_async, record_sync = None, None, None

_async_clients: dict = {}


@task(name="bench.noop")
def noop(t_enq: float) -> None:
    record_sync(t_enq, time.time())


@task(name="bench.anoop")
async def anoop(t_enq: float) -> None:
    t_start = time.time()
    client = _async_clients.get("r")
    if client is None:
        client = _async_clients["r"] = redis.asyncio.Redis.from_url(REDIS_URL)
    await record_async(client, t_enq, t_start)
