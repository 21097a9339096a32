"""R8: a steady load while 3 workers reach Redis only through the fault proxy, which
plays each network fault in turn for a while: reset (RST, new connections refused),
black-hole (the silent half-open peer), CLIENT KILL of the workers' connections,
SIGSTOP of Redis itself, and latency with 1 % of the replies dropped.

Must hold: no worker dies (the pool restarted none) or hangs: after each fault ends,
every worker process claims again (a new ledger start record from its pid) within
12 s; and nothing acknowledged is lost.

Broken twin: one worker whose connection policy has no socket timeout (nor keepalive,
nor health check: net_broken_worker.py) beside a healthy one. Behind the black-hole it
waits for ever; the same hang check must name exactly that worker.
"""

import random
import threading
import time
from collections.abc import Callable
from contextlib import suppress

import pytest
import redis

from tests.taskapp.fault_tasks import work

from .oracle import check, history, wait_drained
from .proxy import FaultProxy
from .rig import figures, wrapper
from .sizes import pick

pytestmark = pytest.mark.faults

RATE = pick(ci=100, full=200)  # tasks per second
WINDOW = pick(ci=2.0, full=10.0)  # seconds each fault lasts
LEASE = pick(ci=12.0, full=30.0)
CLAIM_AGAIN_WITHIN = 12.0  # s after a fault ends, for every worker
WORKERS = 3
NO_CRON = {"TASKQUEUE_DEMO": "0"}  # the demo app's once-a-minute cron task fills queue low


@pytest.fixture
def proxy(fault_redis):
    with FaultProxy("127.0.0.1", fault_redis.port) as running:
        yield running


def first_starts_after(ledger, pids, since: float, timeout: float) -> dict[int, float | None]:
    """pid -> seconds from `since` (epoch) to its first ledger start record after it;
    None for a worker that started nothing within `timeout` s (it hangs)."""
    deadline = time.monotonic() + timeout
    while True:
        firsts: dict[int, float] = {}
        for e in ledger.read():
            if e.kind == "start" and e.t >= since and e.pid in pids:
                firsts.setdefault(e.pid, e.t - since)
        if len(firsts) == len(pids) or time.monotonic() > deadline:
            return {pid: firsts.get(pid) for pid in pids}
        time.sleep(0.2)


class ClientKiller:
    """CLIENT KILL every connection the proxy holds to Redis, again and again (the
    workers reconnect at once) until stopped; the test's own clients are spared."""

    def __init__(self, r: redis.Redis, proxy: FaultProxy):
        self.r, self.proxy = r, proxy
        self.killed = 0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop_event.is_set():
            for port in self.proxy.upstream_ports():
                with suppress(redis.ResponseError):  # gone already
                    self.killed += bool(self.r.client_kill(f"127.0.0.1:{port}"))
            self.stop_event.wait(0.5)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(10)


def faults(proxy: FaultProxy, fault_redis, killer) -> dict[str, tuple[Callable, Callable]]:
    """name -> (begin, end) of each fault, in the order they are played."""
    return {
        "reset": (proxy.reset, proxy.passthrough),
        "blackhole": (proxy.blackhole, proxy.passthrough),
        "client_kill": (killer.start, killer.stop),
        "sigstop": (fault_redis.sigstop, fault_redis.sigcont),
        "latency_drop": (lambda: proxy.latency(25, 10, drop=0.01), proxy.passthrough),
    }


def play(begin: Callable, end: Callable, ledger, pids, wait: float) -> dict[int, float | None]:
    """Hold a fault for WINDOW s, end it, and time each worker's first claim after."""
    begin()
    time.sleep(WINDOW)  # holding the fault: the scenario
    end()
    return first_starts_after(ledger, pids, time.time(), wait)


def test_r8_workers_survive_each_network_fault_and_claim_again(
    fault_redis, proxy, worker_pool, make_producer, ledger, tq_prefix
):
    pool = worker_pool(WORKERS, url=proxy.url, lease=LEASE, env=NO_CRON)
    pids = set(pool.pids)
    producer = make_producer()  # straight to Redis: only the workers are behind the proxy
    producer.start(work, RATE * 600, lambda i: (random.randint(5, 20),), rate=RATE)
    r = fault_redis.client()
    started = time.monotonic()
    time.sleep(WINDOW)  # a calm start
    recovery = {}
    killer = ClientKiller(r, proxy)
    for name, (begin, end) in faults(proxy, fault_redis, killer).items():
        recovery[name] = play(begin, end, ledger, pids, CLAIM_AGAIN_WITHIN + 8)
    producer.stop_event.set()
    producer.join(30)
    drain = wait_drained(r, tq_prefix, producer, ledger, timeout=LEASE + pick(60, 120))
    report = check(r, tq_prefix, producer, ledger, lease=LEASE)
    worst = {
        name: None if None in by_pid.values() else round(max(by_pid.values()), 2)
        for name, by_pid in recovery.items()
    }
    figures(
        "R8",
        rate=RATE,
        window_s=WINDOW,
        lease_s=LEASE,
        load_s=round(time.monotonic() - started, 1),
        acked=report.acked,
        ambiguous=report.ambiguous,
        lost=len(report.lost),
        extra_completions=report.extra_completions,
        reaped=sum(  # claims whose reply was lost: taken back after their lease
            h[3] == "lost" for rec in report.records.values() for h in history(rec).values()
        ),
        claims_again_worst_s=worst,
        worker_restarts=pool.restarts,
        client_kills=killer.killed,
        proxy=vars(proxy.stats()),
        drain_s=round(drain.seconds, 2),
    )
    assert pool.restarts == 0 and not pool.deaths, pool.tails()
    for name, by_pid in recovery.items():
        late = {pid: s for pid, s in by_pid.items() if s is None or s > CLAIM_AGAIN_WITHIN}
        assert not late, f"after {name}: workers slow to claim again {late}\n{pool.tails()}"
    assert drain.done, f"{drain}\n{report.summary()}"
    report.assert_clean()


def test_r8_twin_a_worker_without_socket_timeout_is_caught_hanging(
    fault_redis, proxy, worker_pool, make_producer, ledger
):
    healthy = worker_pool(1, url=proxy.url, env=NO_CRON)
    broken = worker_pool(1, url=proxy.url, command=wrapper("net_broken_worker.py"), env=NO_CRON)
    producer = make_producer()
    producer.start(work, RATE * 600, lambda i: (random.randint(5, 20),), rate=RATE / 2)
    pids = set(healthy.pids) | set(broken.pids)
    before = first_starts_after(ledger, pids, time.time(), 30)
    assert None not in before.values(), before  # both at work
    recovery = play(proxy.blackhole, proxy.passthrough, ledger, pids, CLAIM_AGAIN_WITHIN)
    producer.stop_event.set()
    hung = {pid for pid, s in recovery.items() if s is None or s > CLAIM_AGAIN_WITHIN}
    healthy_took = [recovery[pid] for pid in healthy.pids]
    broken_took = [recovery[pid] for pid in broken.pids]
    figures(
        "R8-twin",
        healthy_claims_again_s=[None if s is None else round(s, 2) for s in healthy_took],
        broken_claims_again_s=[None if s is None else round(s, 2) for s in broken_took],
    )
    assert hung == set(broken.pids), recovery
    assert broken.restarts == 0  # it did not die: it hangs
