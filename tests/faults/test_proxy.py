"""The fault proxy, mode by mode, against a real private redis-server."""

import contextlib
import socket
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from taskqueue.embedded_redis import RedisProcess, free_port

from .proxy import FaultProxy

pytestmark = pytest.mark.faults


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = RedisProcess(
        tmp_path_factory.mktemp("proxy-redis"), port=free_port(), persistent=False
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture
def direct(server):
    client = redis.Redis(port=server.port, socket_timeout=5)
    yield client
    client.close()


@pytest.fixture
def proxy(server):
    with FaultProxy("127.0.0.1", server.port, seed=7) as running:
        yield running


def through(proxy: FaultProxy, timeout: float = 5.0) -> redis.Redis:
    """A client that talks through the proxy and never retries on its own."""
    return redis.Redis(
        port=proxy.port,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


def raw(proxy: FaultProxy) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    sock.sendall(b"PING\r\n")
    assert sock.recv(64) == b"+PONG\r\n"
    return sock


def test_pass_forwards_commands_and_counts_connections_and_bytes(proxy, direct):
    client = through(proxy)
    assert client.set("proxy:pass", "v")
    assert client.get("proxy:pass") == b"v"
    assert direct.get("proxy:pass") == b"v"
    stats = proxy.stats()
    assert stats.accepted == 1 and stats.open == 1
    assert stats.bytes_up > 0 and stats.bytes_down > 0
    assert stats.drops == stats.reset == stats.refused == 0
    client.close()


def test_upstream_ports_name_the_proxied_clients_as_redis_sees_them(proxy, direct):
    client = through(proxy)
    client.client_setname("behind-proxy")
    (port,) = proxy.upstream_ports()
    (entry,) = [c for c in direct.client_list() if c["name"] == "behind-proxy"]
    assert entry["addr"] == f"127.0.0.1:{port}"
    client.close()


def test_latency_delays_each_round_trip_and_keeps_the_order(proxy):
    client = through(proxy)
    client.ping()  # connect before timing
    proxy.latency(40, 20)
    started = time.monotonic()
    for _ in range(5):
        client.ping()
    assert (time.monotonic() - started) / 5 >= 0.05  # about 2 x 40 ms each
    pipe = client.pipeline(transaction=False)
    for i in range(200):
        pipe.echo(str(i))
    assert pipe.execute() == [str(i).encode() for i in range(200)]
    proxy.passthrough()
    started = time.monotonic()
    client.ping()
    assert time.monotonic() - started < 0.05
    client.close()


def test_reset_sends_rst_to_open_connections_and_refuses_new_ones(proxy):
    with raw(proxy) as sock:
        proxy.reset()
        with pytest.raises(ConnectionResetError):  # an RST, not an orderly FIN (b"")
            sock.recv(64)
    with pytest.raises(redis.ConnectionError):
        through(proxy).ping()
    stats = proxy.stats()
    assert stats.reset == 1 and stats.refused >= 1 and stats.open == 0
    proxy.passthrough()
    assert through(proxy).ping()


def test_reset_makes_a_redis_client_fail_fast_not_hang(proxy):
    client = through(proxy, timeout=5)
    client.ping()
    proxy.reset()
    started = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        client.ping()
    assert time.monotonic() - started < 1


def test_blackhole_answers_nothing_so_only_a_socket_timeout_notices(proxy, direct):
    old = through(proxy, timeout=0.5)
    old.ping()
    proxy.blackhole()
    with pytest.raises(redis.TimeoutError):
        old.set("proxy:hole", "old")
    fresh = through(proxy, timeout=0.5)
    with pytest.raises(redis.TimeoutError):  # the connect succeeds, the peer is silent
        fresh.set("proxy:hole", "new")
    assert direct.get("proxy:hole") is None  # nothing reached Redis
    assert proxy.stats().blackholed == 2
    proxy.passthrough()
    assert through(proxy).ping()  # new connections work again


def test_a_blackholed_connection_stays_dead_after_the_mode_ends(proxy):
    with raw(proxy) as sock:
        proxy.blackhole()
        proxy.passthrough()
        sock.settimeout(0.5)
        sock.sendall(b"PING\r\n")
        with pytest.raises(TimeoutError):
            sock.recv(64)


def test_a_dropped_reply_executes_the_command_then_resets_the_connection(proxy, direct):
    client = through(proxy, timeout=5)
    client.ping()
    proxy.drop_reply(1.0, close_after=0.2)
    started = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        client.incr("proxy:dropped")
    assert 0.15 <= time.monotonic() - started < 2
    assert direct.get("proxy:dropped") == b"1"  # it ran; the client cannot know
    stats = proxy.stats()
    assert stats.drops == 1 and stats.reset == 1


def test_latency_and_drop_combine(proxy, direct):
    client = through(proxy)
    client.ping()
    proxy.latency(30, 0, drop=1.0)
    started = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        client.incr("proxy:slow-drop")
    assert time.monotonic() - started >= 0.03 + 0.2  # the request's delay, then the reset
    assert direct.get("proxy:slow-drop") == b"1"
    assert proxy.stats().drops == 1


def test_stop_ends_black_holed_connections_too(server):
    proxy = FaultProxy("127.0.0.1", server.port).start()
    proxy.blackhole()
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(b"PING\r\n")
        proxy.stop()
        with contextlib.suppress(ConnectionResetError):  # closed (a FIN or an RST)
            assert sock.recv(64) == b""  # and never answered


def test_drop_reply_drops_about_the_given_share(proxy, direct):
    proxy.drop_reply(0.3, close_after=0.0)
    failed = 0
    for _ in range(200):
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
            sock.sendall(b"INCR proxy:share\r\n")
            try:
                reply = sock.recv(64)
            except ConnectionResetError:
                reply = b""
            failed += not reply.startswith(b":")
    assert 30 <= failed <= 90  # 200 x 0.3 = 60
    assert proxy.stats().drops == failed
    assert direct.get("proxy:share") == b"200"  # every command ran


def test_stop_closes_every_connection(server):
    proxy = FaultProxy("127.0.0.1", server.port).start()
    client = through(proxy)
    client.ping()
    proxy.stop()
    with pytest.raises(redis.ConnectionError):
        client.ping()
