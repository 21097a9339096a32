"""The fault-injection rig: real parts only, one private set per test.

What a scenario (tests/faults/test_*.py) is made of:

- `FaultRedis` (fixtures `fault_redis`, `make_fault_redis`): a redis-server of the test's
  own on a free loopback port and data dir: AOF (`appendfsync everysec`), `noeviction`,
  DEBUG enabled; `persistent=False` for a twin without AOF. `kill9()`, `start()`,
  `restart(after=s)` on the same dir and port, `sigstop()` / `sigcont()`, `stop()`.
- `WorkerPool` (fixture `worker_pool`): N real `manage.py runworker` processes with a
  supervisor thread that restarts any that dies and counts it; `kill_random()`,
  `signal_all()`, `rolling_restart()`, `stop()`. Logs per process in the test's tmp dir,
  tails printed when the test fails.
- `Producer` (fixture `make_producer`): enqueues through the real Python API and notes
  which ids were acknowledged and which calls were ambiguous (raised or timed out).
- The ledger (ledger.py, fixture `ledger`): start/end records the task bodies of
  tests/taskapp/fault_tasks.py append, one os.write each, so they survive SIGKILL.
- The oracle (oracle.py): after `wait_drained()`, `check()` counts lost, phantom and
  duplicated tasks, overlapping attempts without an expired lease and Redis
  inconsistencies; `Report.assert_clean()`.

Every scenario has a broken twin (a Redis without AOF, a worker whose reaper is patched
out by a wrapper script, ...) that asserts the oracle catches the fault.

Running it:

    make faults                       # tests/faults at the CI size (also part of `make test`)
    make faults-full                  # FAULTS_SIZE=full: the issue's figures, printed (-s)
    .venv/bin/python -m pytest tests/faults/test_r2_kill_workers.py -q -s

Sizes come from sizes.py (`pick(ci=..., full=...)`, env FAULTS_SIZE=ci|full). Each
scenario prints its measured figures (drain time, kills, duplicates, latencies) as one
`FIGURES <scenario> {...}` line: run with -s to see them.
"""

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis

from taskqueue.embedded_redis import RedisProcess, free_port
from taskqueue.errors import BrokerUnavailable

from ..support.failures import tail

ROOT = Path(__file__).resolve().parents[2]
FAULTS_DIR = Path(__file__).resolve().parent
READY_MARK = b" serving "  # the worker's start-up log line: 'worker <id> serving <queues> ...'


def figures(scenario: str, **values) -> dict:
    """Print a scenario's measured figures as one line (pytest -s shows it)."""
    print(f"FIGURES {scenario} {json.dumps(values, sort_keys=True)}", flush=True)
    return values


# -- Redis ----------------------------------------------------------------------------


class FaultRedis:
    """A private redis-server that a test may kill, freeze and restart."""

    def __init__(self, data_dir: Path, *, persistent: bool = True, extra_args: Sequence = ()):
        self.data_dir = Path(data_dir)
        self.port = free_port()
        self.persistent = persistent
        self._server = RedisProcess(
            self.data_dir,
            port=self.port,
            persistent=persistent,
            extra_args=("--enable-debug-command", "yes", *extra_args),
        )
        self._clients: list[redis.Redis] = []
        self.stopped = False  # SIGSTOPped

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def pid(self) -> int | None:
        proc = self._server.process
        return None if proc is None or proc.poll() is not None else proc.pid

    @property
    def log_path(self) -> Path:
        return self.data_dir / "redis.log"

    def client(self, **options) -> redis.Redis:
        """A redis-py client (decoded replies); closed at the end of the test."""
        options = {"decode_responses": True, "socket_timeout": 5} | options
        c = redis.Redis(host="127.0.0.1", port=self.port, **options)
        self._clients.append(c)
        return c

    def start(self, timeout: float = 20.0) -> "FaultRedis":
        self._server.start(timeout)
        return self

    def kill9(self) -> None:
        proc = self._server.process
        if proc is not None and proc.poll() is None:
            self.sigcont()
            proc.kill()
            proc.wait(10)

    def restart(self, after: float = 0.0, *, graceful: bool = False) -> None:
        """Kill (SIGKILL, or SIGTERM when graceful) and start again on the same data
        dir and port after `after` seconds (the outage)."""
        if graceful:
            self.stop()
        else:
            self.kill9()
        if after:
            time.sleep(after)  # holding the fault: the outage is the scenario
        self.start()

    def sigstop(self) -> None:
        if self.pid:
            os.kill(self.pid, signal.SIGSTOP)
            self.stopped = True

    def sigcont(self) -> None:
        if self.pid:
            os.kill(self.pid, signal.SIGCONT)
        self.stopped = False

    def stop(self) -> None:
        self.sigcont()
        self._server.stop()

    def close(self) -> None:
        """Teardown: SIGCONT, SIGKILL, close clients."""
        for c in self._clients:
            with contextlib.suppress(Exception):
                c.close()
        self.kill9()


# -- workers ----------------------------------------------------------------------------


@dataclass
class Death:
    slot: int
    pid: int
    returncode: int
    at: float  # time.time()


@dataclass
class _Proc:
    slot: int
    popen: subprocess.Popen
    log_path: Path
    log: object
    started: float = field(default_factory=time.time)


class WorkerPool:
    """N `manage.py runworker` processes, restarted by a supervisor thread when they die."""

    def __init__(
        self,
        n: int,
        *,
        redis_url: str,
        prefix: str,
        log_dir: Path,
        ledger_dir: Path | None = None,
        lease: float = 30.0,
        args: Sequence[str] = (),
        env: dict | None = None,
        command: Sequence[str] | None = None,
        restart: bool = True,
    ):
        self.n = n
        self.redis_url = redis_url
        self.prefix = prefix
        self.log_dir = Path(log_dir)
        self.ledger_dir = ledger_dir
        self.lease = lease
        self.args = list(args)
        self.extra_env = dict(env or {})
        self.command = list(command) if command else [sys.executable, "manage.py", "runworker"]
        self.auto_restart = restart
        self.procs: list[_Proc | None] = [None] * n
        self.all: list[_Proc] = []
        self.deaths: list[Death] = []
        self.kills: list[tuple[float, int, int]] = []  # (time, pid, signal)
        self.restarts = 0
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._spawned = 0

    # -- life cycle
    def env(self) -> dict:
        env = os.environ | {
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "REDIS_URL": self.redis_url,
            "TASKQUEUE_PREFIX": self.prefix,
            "TASKQUEUE_LEASE_SECONDS": str(self.lease),
            "PYTHONUNBUFFERED": "1",
        }
        if self.ledger_dir is not None:
            env["TASKQUEUE_LEDGER_DIR"] = str(self.ledger_dir)
        return env | self.extra_env

    def _spawn(self, slot: int) -> _Proc:
        self._spawned += 1
        path = self.log_dir / f"worker-{slot}-{self._spawned}.log"
        log = open(path, "wb")  # noqa: SIM115 - closed when the pool closes
        popen = subprocess.Popen(
            [*self.command, *self.args],
            cwd=ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        proc = _Proc(slot, popen, path, log)
        self.procs[slot] = proc
        self.all.append(proc)
        return proc

    def start(self, ready_timeout: float = 60.0) -> "WorkerPool":
        with self._lock:
            for slot in range(self.n):
                self._spawn(slot)
        self._thread = threading.Thread(target=self._supervise, name="worker-pool", daemon=True)
        self._thread.start()
        self.wait_ready(ready_timeout)
        return self

    def _supervise(self) -> None:
        while not self._stopping.wait(0.05):
            with self._lock:
                for slot, proc in enumerate(self.procs):
                    if proc is None or proc.popen.poll() is None:
                        continue
                    rc = proc.popen.returncode
                    self.deaths.append(Death(slot, proc.popen.pid, rc, time.time()))
                    if self.auto_restart and not self._stopping.is_set():
                        self._spawn(slot)
                        self.restarts += 1
                    else:
                        self.procs[slot] = None

    def is_ready(self, proc: _Proc) -> bool:
        try:
            return READY_MARK in proc.log_path.read_bytes()
        except OSError:
            return False

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until every live worker has logged that it is serving its queues."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                live = [p for p in self.procs if p is not None]
            if all(self.is_ready(p) for p in live):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"workers not ready after {timeout} s:\n{self.tails()}")
            time.sleep(0.05)

    @property
    def pids(self) -> list[int]:
        with self._lock:
            return [p.popen.pid for p in self.procs if p is not None and p.popen.poll() is None]

    def proc_of(self, pid: int) -> _Proc | None:
        return next((p for p in self.all if p.popen.pid == pid), None)

    # -- faults
    def kill(self, pid: int, sig: int = signal.SIGKILL) -> int:
        os.kill(pid, sig)
        self.kills.append((time.time(), pid, sig))
        return pid

    def kill_random(self, sig: int = signal.SIGKILL) -> int | None:
        """Send `sig` to one live worker picked at random; returns its pid."""
        pids = self.pids
        if not pids:
            return None
        return self.kill(random.choice(pids), sig)

    def signal_all(self, sig: int) -> list[int]:
        pids = self.pids
        for pid in pids:
            self.kill(pid, sig)
        return pids

    def rolling_restart(self, *, exit_timeout: float = 60.0, ready_timeout: float = 60.0) -> None:
        """SIGTERM each worker in turn; wait for it to exit and its replacement to serve."""
        for slot in range(self.n):
            with self._lock:
                old = self.procs[slot]
            if old is None:
                continue
            self.kill(old.popen.pid, signal.SIGTERM)
            deadline = time.monotonic() + exit_timeout
            while True:
                with self._lock:
                    new = self.procs[slot]
                if new is not None and new is not old:
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"worker {old.popen.pid} did not exit:\n{self.tails()}")
                time.sleep(0.05)
            deadline = time.monotonic() + ready_timeout
            while not self.is_ready(new):
                if new.popen.poll() is not None or time.monotonic() > deadline:
                    break  # died at once: the supervisor deals with it
                time.sleep(0.05)

    def stop(self, grace: float = 10.0) -> list[int]:
        """SIGTERM every worker, SIGKILL those still running after `grace` s; returns the
        exit codes of the workers that were running."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
        with self._lock:
            live = [p for p in self.procs if p is not None and p.popen.poll() is None]
        for p in live:
            with contextlib.suppress(ProcessLookupError):
                p.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        codes = []
        for p in live:
            try:
                codes.append(p.popen.wait(max(0.0, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                p.popen.kill()
                codes.append(p.popen.wait(10))
        return codes

    def close(self) -> None:
        """Teardown: kill whatever still runs, close the logs."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
        for p in self.all:
            if p.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.popen.pid, signal.SIGCONT)
                    p.popen.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.popen.wait(10)
            p.log.close()

    def tails(self, lines: int = 30) -> str:
        out = []
        for p in self.all[-2 * self.n - 6 :]:
            rc = p.popen.poll()
            out.append(f"--- {p.log_path.name} (pid {p.popen.pid}, exit {rc}) ---")
            out.append(tail(p.log_path, lines))
        return "\n".join(out)

    def grep(self, needle: str) -> list[str]:
        """Lines of every worker log that contain `needle`."""
        found = []
        for p in self.all:
            with contextlib.suppress(OSError):
                for line in p.log_path.read_text(errors="replace").splitlines():
                    if needle in line:
                        found.append(line)
        return found


# -- producing --------------------------------------------------------------------------


class Producer:
    """Enqueues through the real Python API (`prepare` + `enqueue_many`, which is what
    `task.enqueue()` does) and records what Redis acknowledged.

    acked:     ids whose enqueue call returned (the task exists)
    ambiguous: ids whose call raised or timed out (they may or may not exist); only
               Redis errors (BrokerUnavailable, a redis-py error, OSError) count: any
               other exception (a bad argument) is the test's bug and is raised
    """

    def __init__(
        self,
        *,
        idempotency: bool = False,
        retries: int = 0,
        options: dict | None = None,
    ):
        self.idempotency = idempotency
        self.retries = retries  # resend the same prepared call (same id, same key)
        self.options = dict(options or {})
        self.token = uuid.uuid4().hex[:8]
        self.acked: list[str] = []
        self.ambiguous: list[str] = []
        self.created: dict[str, bool] = {}
        self.queues: set[str] = set()  # queues the tasks went to
        self.errors: list[str] = []
        self.calls = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.stop_event = threading.Event()

    @property
    def acked_ids(self) -> set[str]:
        return set(self.acked)

    @property
    def ambiguous_ids(self) -> set[str]:
        return set(self.ambiguous) - set(self.acked)

    @property
    def enqueued_ids(self) -> set[str]:
        return set(self.acked) | set(self.ambiguous)

    def _prepare(self, task, args: Sequence, kwargs: dict, options: dict):
        with self._lock:
            n = self.calls
            self.calls += 1
        opts = self.options | options
        if self.idempotency and "idempotency_key" not in opts:
            opts["idempotency_key"] = f"{self.token}-{n}"
        caller = task.using(**opts) if opts else task
        return caller.prepare(*args, **kwargs)

    def enqueue(self, task, *args, _options: dict | None = None, **kwargs) -> str | None:
        """One task; returns its id when acknowledged, None when the call failed."""
        return self.enqueue_many([(task, args, kwargs)], _options)[0]

    def enqueue_many(self, calls: Sequence[tuple], options: dict | None = None) -> list:
        """[(task, args, kwargs), ...] in one round trip (`taskqueue.enqueue_many`)."""
        import taskqueue

        prepared = [self._prepare(t, a, k, options or {}) for t, a, k in calls]
        with self._lock:
            self.queues.update(p.queue for p in prepared)
        for attempt in range(self.retries + 1):
            try:
                handles = taskqueue.enqueue_many(prepared)
            except (BrokerUnavailable, redis.RedisError, OSError) as exc:
                with self._lock:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                if attempt == self.retries:
                    with self._lock:
                        self.ambiguous += [p.id for p in prepared]
                    return [None] * len(prepared)
            else:
                with self._lock:
                    for h in handles:
                        self.acked.append(h.id)
                        self.created[h.id] = h.created
                return [h.id for h in handles]
        return [None] * len(prepared)  # not reached

    def run(
        self,
        task,
        n: int,
        args: Callable[[int], tuple] = lambda i: (),
        *,
        rate: float | None = None,
        batch: int = 1,
        options: dict | None = None,
    ) -> None:
        """Enqueue `n` tasks (`args(i)` for the i-th), `batch` a call, paced at `rate`
        tasks/s when given; stops early when `stop_event` is set."""
        start = time.monotonic()
        for first in range(0, n, batch):
            if self.stop_event.is_set():
                return
            if rate:
                delay = start + first / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)  # pacing the load
            calls = [(task, args(i), {}) for i in range(first, min(n, first + batch))]
            self.enqueue_many(calls, options)

    def start(self, *a, **kw) -> threading.Thread:
        """`run(...)` in a background thread; `join()` waits for it."""
        self._thread = threading.Thread(target=self.run, args=a, kwargs=kw, daemon=True)
        self._thread.start()
        return self._thread

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
            assert not self._thread.is_alive(), "the producer did not finish"

    def summary(self) -> str:
        return (
            f"{len(self.acked)} acked, {len(self.ambiguous_ids)} ambiguous, "
            f"{len(self.errors)} errors" + (f" (first: {self.errors[0]})" if self.errors else "")
        )


def wrapper(name: str) -> list[str]:
    """The command of a broken-twin wrapper script in tests/faults/ (it patches the engine
    and then runs the management command): `WorkerPool(command=wrapper("x.py"))`."""
    return [sys.executable, str(FAULTS_DIR / name), "runworker"]
