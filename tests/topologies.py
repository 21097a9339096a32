"""Real multi-process Redis topologies on loopback, for tests and benchmarks: a Redis
Cluster (3 masters, optionally one replica each) and a Sentinel group (a master, a
replica and three sentinels). Every process is a redis-server child on a free port,
non-persistent, stopped by `stop()`. Every wait polls a condition with a deadline."""

import random
import socket
import subprocess
from pathlib import Path

import redis
import redis.cluster

from taskqueue.embedded_redis import RedisProcess, find_binary, free_port
from tests.support.waits import wait_for  # bench/scaling.py imports it from here too

NODE_TIMEOUT_MS = 1000  # how long a silent master is tolerated before its fail-over
# what a wait here counts as "not yet": a node that is starting, failing over or loading
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError, redis.ResponseError, OSError)
POLL_REDIS = {"every": 0.05, "ignoring": REDIS_DOWN}  # how the waits here poll a node


def _ping(port: int) -> redis.Redis:
    return redis.Redis(port=port, socket_timeout=2, socket_connect_timeout=2, decode_responses=True)


class LocalCluster:
    """`masters` cluster masters (+ `replicas` replicas each) on free loopback ports;
    `url` is the redis+cluster:// URL of its startup nodes once `start()` returns."""

    def __init__(self, workdir: Path, *, masters: int = 3, replicas: int = 0):
        self.workdir = Path(workdir)
        self.masters, self.replicas = masters, replicas
        self.nodes: list[RedisProcess] = []

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def start(self, timeout: float = 30.0) -> "LocalCluster":
        for index in range(self.masters * (1 + self.replicas)):
            self.nodes.append(self._node(index).start())
        addresses = [f"127.0.0.1:{n.port}" for n in self.nodes]
        subprocess.run(
            [_cli(), "--cluster", "create", *addresses, "--cluster-replicas",
             str(self.replicas), "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        for node in self.nodes:
            wait_for(
                lambda n=node: self.state_ok(n.port), timeout, "cluster_state:ok", **POLL_REDIS
            )
        if self.replicas:
            wait_for(self._replicas_synced, timeout, "the replicas to sync", **POLL_REDIS)
        return self

    def _node(self, index: int) -> RedisProcess:
        port = cluster_port()
        extra = (
            "--cluster-enabled", "yes",
            "--cluster-config-file", f"nodes-{port}.conf",
            "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
            "--cluster-replica-validity-factor", "0",  # any replica may take over
        )  # fmt: skip
        return RedisProcess(
            self.workdir / f"node-{index}", port=port, persistent=False, extra_args=extra
        )

    @staticmethod
    def state_ok(port: int) -> bool:
        info = _ping(port).cluster("info")
        return info.get("cluster_state") == "ok"

    def _replicas_synced(self) -> bool:
        for node in self.nodes:
            info = _ping(node.port).info("replication")
            if info["role"] == "slave" and info.get("master_link_status") != "up":
                return False
        return True

    def master_of(self, slot: int) -> int:
        """The port of the master serving `slot`, as a live node sees the cluster."""
        live = next(n for n in self.nodes if n.process.poll() is None)
        for start, end, master, *_ in _ping(live.port).execute_command("CLUSTER", "SLOTS"):
            if int(start) <= slot <= int(end):
                return int(master[1])
        raise LookupError(f"no master serves slot {slot}")

    def kill(self, port: int) -> None:
        """SIGKILL one node (no goodbye to its peers: a crash, not a shutdown)."""
        node = next(n for n in self.nodes if n.port == port)
        node.process.kill()
        node.process.wait()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


class LocalSentinel:
    """A master, one replica and three sentinels watching them as `service`."""

    def __init__(self, workdir: Path, service: str = "tqmaster"):
        self.workdir = Path(workdir)
        self.service = service
        self.master = RedisProcess(self.workdir / "master", port=free_port(), persistent=False)
        self.replica = RedisProcess(
            self.workdir / "replica",
            port=free_port(),
            persistent=False,
            extra_args=("--replicaof", "127.0.0.1", str(self.master.port)),
        )
        self.sentinels: list[subprocess.Popen] = []
        self.sentinel_ports = [free_port() for _ in range(3)]

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{self.service}"

    def start(self, timeout: float = 30.0) -> "LocalSentinel":
        self.master.start()
        self.replica.start()
        wait_for(
            lambda: _ping(self.replica.port).info("replication")["master_link_status"] == "up",
            timeout,
            "the replica to sync",
            **POLL_REDIS,
        )
        for port in self.sentinel_ports:
            self.sentinels.append(self._sentinel(port))
        wait_for(self._sentinels_agree, timeout, "the sentinels to see the replica", **POLL_REDIS)
        return self

    def _sentinel(self, port: int) -> subprocess.Popen:
        folder = self.workdir / f"sentinel-{port}"
        folder.mkdir(parents=True, exist_ok=True)
        conf = folder / "sentinel.conf"
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {folder}\nlogfile {folder / 'sentinel.log'}\n"
            f"sentinel monitor {self.service} 127.0.0.1 {self.master.port} 2\n"
            f"sentinel down-after-milliseconds {self.service} {NODE_TIMEOUT_MS}\n"
            f"sentinel failover-timeout {self.service} 10000\n"
        )
        process = subprocess.Popen(
            [find_binary(), str(conf), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(lambda: _ping(port).ping(), 15, f"sentinel on port {port}", **POLL_REDIS)
        return process

    def _sentinels_agree(self) -> bool:
        for port in self.sentinel_ports:
            client = _ping(port)
            if len(client.sentinel_slaves(self.service)) != 1:
                return False
            if len(client.sentinel_sentinels(self.service)) != 2:
                return False
        return True

    def master_port(self) -> int:
        _, port = _ping(self.sentinel_ports[0]).sentinel_get_master_addr_by_name(self.service)
        return int(port)

    def stop(self) -> None:
        for process in self.sentinels:
            process.terminate()
        for process in self.sentinels:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.replica.stop()
        self.master.stop()


def command_calls(client, command: str) -> int:
    """How many times the Redis (or every master of the cluster) `client` talks to has
    run `command` since it started (INFO commandstats)."""
    if isinstance(client, redis.cluster.RedisCluster):
        found = client.info("commandstats", target_nodes=client.PRIMARIES).values()
    else:
        found = [client.info("commandstats")]
    return sum(stats.get(f"cmdstat_{command}", {}).get("calls", 0) for stats in found)


def cluster_port() -> int:
    """A free port P whose cluster bus port P + 10000 is free too (so P <= 55535)."""
    while True:
        port = random.randrange(20_000, 50_000)
        if _free(port) and _free(port + 10_000):
            return port


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _cli() -> str:
    return str(Path(find_binary()).with_name("redis-cli"))
