"""Waiting on keys of several queues when they live on different Redis Cluster slots.

A cluster refuses a multi-key BLPOP or XREAD across slots, and each queue has a slot
of its own, so in cluster mode each key gets its own blocking call on its own
connection, all running at once: the wait ends as soon as any of them answers. The
others are not cancelled (a cancelled call would drop its connection, and a BLPOP
cancelled after Redis popped could lose the token): they stay in flight, and the next
wait picks up what they bring. On one Redis (single node or Sentinel) the broker keeps
its one multi-key call and none of this runs.
"""

import asyncio
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait

import redis.asyncio.cluster
import redis.cluster


def is_cluster(client) -> bool:
    return isinstance(client, (redis.cluster.RedisCluster, redis.asyncio.cluster.RedisCluster))


class BlockingPops:
    """BLPOP on many keys at once for an asyncio cluster client, one call per key."""

    def __init__(self, client):
        self.client = client
        self.waiting: dict[str, asyncio.Task] = {}

    async def wait(self, keys: list[str], timeout: float) -> bool:
        """True once a token was popped from one of the keys; False after `timeout` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (left := deadline - loop.time()) > 0:
            calls = [self._call(key, left) for key in keys]
            done, _ = await asyncio.wait(calls, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            if done and self._collect(keys):
                return True
        return False

    def _call(self, key: str, timeout: float) -> asyncio.Task:
        call = self.waiting.get(key)
        if call is None:
            pop = self.client.blpop([key], timeout=max(0.01, timeout))
            call = self.waiting[key] = asyncio.ensure_future(pop)
        return call

    def _collect(self, keys: list[str]) -> bool:
        """Take the finished calls: True if one popped; a failed one's error is raised."""
        popped, error = False, None
        for key in keys:
            call = self.waiting.get(key)
            if call is None or not call.done():
                continue
            del self.waiting[key]
            if call.exception() is not None:
                error = error or call.exception()
            elif call.result() is not None:
                popped = True
        if error is not None and not popped:
            raise error
        return popped

    async def close(self) -> None:
        calls = list(self.waiting.values())
        self.waiting.clear()
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)


class StreamReads:
    """XREAD BLOCK on many streams at once for a sync cluster client, one thread per
    stream in flight. A read whose stream and cursor are asked for again is reused, so
    an idle stream costs one waiting thread however often the caller comes back."""

    def __init__(self, client):
        self.client = client
        self.lock = threading.Lock()
        self.reads: dict[str, tuple[str, Future]] = {}  # stream -> (cursor, its read)

    def read(self, streams: dict[str, str], count: int, block_ms: int) -> list:
        """[(stream, entries)] like XREAD, once any stream has entries after its cursor,
        or [] after block_ms."""
        with self.lock:
            futures = {
                key: self._read(key, cursor, count, block_ms) for key, cursor in streams.items()
            }
        deadline = time.monotonic() + block_ms / 1000
        while True:
            _, running = wait(
                futures.values(), max(0.0, deadline - time.monotonic()), FIRST_COMPLETED
            )
            replies = self._collect(futures)
            if replies or not running or time.monotonic() >= deadline:
                return replies
            futures = {k: f for k, f in futures.items() if f in running}

    def _read(self, key: str, cursor: str, count: int, block_ms: int) -> Future:
        kept = self.reads.get(key)
        if kept is not None and kept[0] == cursor and _reusable(kept[1]):
            return kept[1]
        future: Future = Future()
        self.reads[key] = (cursor, future)
        threading.Thread(
            target=self._run, args=(future, key, cursor, count, block_ms), daemon=True
        ).start()
        return future

    def _run(self, future: Future, key: str, cursor: str, count: int, block_ms: int) -> None:
        try:
            future.set_result(self.client.xread({key: cursor}, count=count, block=block_ms))
        except Exception as exc:
            future.set_exception(exc)

    def _collect(self, futures: dict[str, Future]) -> list:
        replies, error = [], None
        with self.lock:
            for key, future in futures.items():
                if not future.done():
                    continue
                if self.reads.get(key, (None, None))[1] is future:
                    del self.reads[key]  # consumed: the caller's cursor moves on
                if future.exception() is not None:
                    error = error or future.exception()
                else:
                    replies += future.result() or []
        if error is not None and not replies:
            raise error
        return replies


def _reusable(future: Future) -> bool:
    """Still waiting, or finished with entries (which are still after the cursor)."""
    return not future.done() or (future.exception() is None and bool(future.result()))
