"""A small TCP fault proxy for the fault suite: clients connect to `proxy.port`, the
proxy forwards to the target (a private redis-server), and the test switches its mode
at run time from its own thread.

    proxy = FaultProxy("127.0.0.1", redis_port).start()
    ... workers use proxy.url ...
    proxy.blackhole(); time.sleep(10); proxy.passthrough()
    proxy.stop()

Modes (each call replaces the previous mode; every switch is in force when it returns):

- `passthrough()`: forward both ways untouched.
- `latency(mean_ms, jitter_ms, drop=0.0)`: hold every chunk, in each direction, for
  a gaussian delay (mean, jitter = standard deviation, never negative); order is kept
  and reading goes on meanwhile, so it is a slow link, not a narrow one. A request and
  its reply each pay it: a round trip gains about 2 x mean. `drop` adds drop_reply(p).
- `reset()`: RST every open connection (SO_LINGER 0, both sides) and RST each new one
  right after accepting it: the client sees "connection reset", as from a restarting
  or firewalled host.
- `blackhole()`: accept, forward nothing either way, never answer: the silent
  half-open peer. Connections that were black-holed stay dead after the mode ends
  (as a real half-open connection does); only their client's own timeout can notice
  it, so this is what proves the client has one. New connections after the mode ends
  work again.
- `drop_reply(p, close_after=0.2)`: each chunk from the target to the client is, with
  probability p, swallowed; that connection is then silent and is reset `close_after`
  seconds later. A lost reply desynchronises RESP, so this is what a lost reply looks
  like to a client: a reset (or a timeout), with the command possibly executed.

`upstream_ports()` names the proxy's own connections to the target, as the target sees
them (to `CLIENT KILL` exactly the clients behind the proxy). `stats()` returns the
counters: connections accepted, open, refused (reset on accept), reset (open ones
reset), black-holed, bytes each way, replies dropped.
"""

import asyncio
import contextlib
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Mode:
    name: str = "pass"
    mean_ms: float = 0.0
    jitter_ms: float = 0.0
    drop: float = 0.0
    close_after: float = 0.2

    def delay(self, rng: random.Random) -> float:
        if not self.mean_ms and not self.jitter_ms:
            return 0.0
        return max(0.0, rng.gauss(self.mean_ms, self.jitter_ms)) / 1000


@dataclass(frozen=True)
class Stats:
    accepted: int = 0  # connections accepted
    open: int = 0  # connections open now
    refused: int = 0  # connections reset right after accept (reset mode)
    reset: int = 0  # open connections reset (reset mode, or after a dropped reply)
    blackholed: int = 0  # connections silenced by the black-hole mode
    bytes_up: int = 0  # client → target, forwarded
    bytes_down: int = 0  # target → client, forwarded
    drops: int = 0  # reply chunks swallowed (drop_reply)


def _rst(writer: asyncio.StreamWriter | None) -> None:
    """Close with a TCP RST instead of a FIN (SO_LINGER on, timeout 0)."""
    if writer is None or writer.transport.is_closing():
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Link:
    """One client connection and its upstream connection."""

    def __init__(self, proxy: "FaultProxy", client: asyncio.StreamWriter):
        self.proxy = proxy
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None
        self.silent = False  # black-holed or after a dropped reply: forwards nothing, ever
        self.tasks: list[asyncio.Task] = []

    def rst(self) -> None:
        if not self.client.transport.is_closing():
            self.proxy._count(reset=1)
        _rst(self.client)
        _rst(self.upstream)

    def close(self) -> None:
        for writer in (self.client, self.upstream):
            if writer is not None and not writer.transport.is_closing():
                writer.close()

    async def pump(self, reader: asyncio.StreamReader, down: bool) -> None:
        """Read one direction, queue each chunk with its delivery time, deliver in order."""
        queue: asyncio.Queue = asyncio.Queue()
        writer = self.client if down else self.upstream
        deliver = asyncio.ensure_future(self._deliver(queue, writer, down))
        last = 0.0
        try:
            while data := await reader.read(65536):
                if self.silent:
                    continue
                mode = self.proxy._mode
                if down and mode.drop and self.proxy._rng.random() < mode.drop:
                    self._drop(mode)
                    continue
                last = max(last, time.monotonic() + mode.delay(self.proxy._rng))
                queue.put_nowait((last, data))
        except (ConnectionError, OSError):
            pass
        finally:
            queue.put_nowait((0.0, b""))
            await asyncio.gather(deliver, return_exceptions=True)
            self.close()

    def _drop(self, mode: Mode) -> None:
        self.proxy._count(drops=1)
        self.silent = True
        asyncio.get_running_loop().call_later(mode.close_after, self.rst)

    async def _deliver(self, queue: asyncio.Queue, writer, down: bool) -> None:
        while True:
            when, data = await queue.get()
            if not data:
                return
            wait = when - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if self.silent or writer.transport.is_closing():
                continue
            writer.write(data)
            self.proxy._count(**{"bytes_down" if down else "bytes_up": len(data)})
            try:
                await writer.drain()
            except (ConnectionError, OSError):
                return


class FaultProxy:
    def __init__(self, target_host: str, target_port: int, *, seed: int | None = None):
        self.target = (target_host, target_port)
        self.host = "127.0.0.1"
        self.port = 0
        self._mode = Mode()
        self._rng = random.Random(seed)
        self._stats = Stats()
        self._links: set[_Link] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._listener: socket.socket | None = None
        self._handlers: set[asyncio.Task] = set()
        self._stats_lock = threading.Lock()
        self._closing = False

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    # --- life cycle (test thread) ---

    def start(self) -> "FaultProxy":
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="fault-proxy", daemon=True
        )
        self._thread.start()
        if not ready.wait(10) or self._listener is None:
            raise RuntimeError("the fault proxy did not start")
        return self

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)

        async def listen():
            self._listener = socket.socket()
            self._listener.bind((self.host, 0))
            self._listener.listen(128)
            self._listener.setblocking(False)
            self.port = self._listener.getsockname()[1]
            self._loop.add_reader(self._listener.fileno(), self._accept_ready)

        try:
            self._loop.run_until_complete(listen())
        finally:
            ready.set()
        self._loop.run_forever()

    def stop(self) -> None:
        if self._loop is None or self._loop.is_closed():
            return

        async def shutdown():
            self._closing = True
            self._loop.remove_reader(self._listener.fileno())
            self._accept_ready()  # resets whatever is waiting to be accepted
            self._listener.close()
            for link in list(self._links):
                link.rst()
            # until no task is left (a handler still opening its streams resets its
            # connection when it sees _closing)
            while others := asyncio.all_tasks() - {asyncio.current_task()}:
                _, pending = await asyncio.wait(others, timeout=5)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- modes (test thread) ---

    def passthrough(self) -> None:
        self._switch(Mode())

    def latency(self, mean_ms: float, jitter_ms: float = 0.0, drop: float = 0.0) -> None:
        self._switch(Mode("latency", mean_ms=mean_ms, jitter_ms=jitter_ms, drop=drop))

    def drop_reply(self, p: float, close_after: float = 0.2) -> None:
        self._switch(Mode("drop_reply", drop=p, close_after=close_after))

    def reset(self) -> None:
        self._switch(Mode("reset"))

    def blackhole(self) -> None:
        self._switch(Mode("blackhole"))

    @property
    def mode(self) -> Mode:
        return self._mode

    def stats(self) -> Stats:
        with self._stats_lock:
            return replace(self._stats, open=len(self._links))

    def upstream_ports(self) -> set[int]:
        """The local ports of the proxy's open connections to the target: how the target
        sees its clients behind the proxy (e.g. to CLIENT KILL exactly those)."""

        async def ports():
            found = set()
            for link in self._links:
                name = link.upstream and link.upstream.get_extra_info("sockname")
                if name:
                    found.add(name[1])
            return found

        return asyncio.run_coroutine_threadsafe(ports(), self._loop).result(10)

    def _switch(self, mode: Mode) -> None:
        """Apply a mode in the proxy's loop; it is in force for every link on return."""

        async def apply():
            self._mode = mode
            for link in list(self._links):
                if mode.name == "reset":
                    link.rst()
                elif mode.name == "blackhole" and not link.silent:
                    link.silent = True
                    self._count(blackholed=1)

        asyncio.run_coroutine_threadsafe(apply(), self._loop).result(10)

    # --- the loop's side ---

    def _count(self, **deltas: int) -> None:
        with self._stats_lock:
            values = {k: getattr(self._stats, k) + v for k, v in deltas.items()}
            self._stats = replace(self._stats, **values)

    def _accept_ready(self) -> None:
        """Accept every waiting connection (our own accept, not asyncio.start_server, so
        every connection is in our hands: none can be lost in a cancelled accept)."""
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:  # BlockingIOError: none left
                return
            if self._closing:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
                continue
            conn.setblocking(False)
            handler = self._loop.create_task(self._adopt(conn))
            self._handlers.add(handler)
            handler.add_done_callback(self._handlers.discard)

    async def _adopt(self, conn: socket.socket) -> None:
        reader, writer = await asyncio.open_connection(sock=conn)
        await self._accept(reader, writer)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self._count(accepted=1)
        if self._closing or self._mode.name == "reset":
            self._count(refused=1)
            _rst(writer)
            return
        link = _Link(self, writer)
        self._links.add(link)
        try:
            await self._serve(link, reader)
        finally:
            self._links.discard(link)
            if self._closing:
                link.rst()

    async def _serve(self, link: _Link, reader: asyncio.StreamReader) -> None:
        if self._mode.name == "blackhole":
            link.silent = True
            self._count(blackholed=1)
            await self._swallow(link, reader)
            return
        try:
            up_reader, link.upstream = await asyncio.open_connection(*self.target)
        except OSError:
            link.rst()
            return
        if link.client.transport.is_closing():  # reset while we were connecting
            link.rst()
            return
        link.tasks = [
            asyncio.ensure_future(link.pump(reader, down=False)),
            asyncio.ensure_future(link.pump(up_reader, down=True)),
        ]
        await asyncio.gather(*link.tasks, return_exceptions=True)

    async def _swallow(self, link: _Link, reader: asyncio.StreamReader) -> None:
        try:
            while await reader.read(65536):
                pass
        except (ConnectionError, OSError):
            pass
        link.close()
