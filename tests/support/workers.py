"""Workers for the tests, all on the session's private Redis under the test's own
prefix: `manage.py runworker` processes and in-process ones. The fixtures here reach a
directory's tests through its conftest.py, which imports them (tests/worker/,
tests/djangotasks/)."""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from taskqueue.broker.async_broker import AsyncRedisBroker
from taskqueue.client import connect_async
from taskqueue.conf import get_config
from taskqueue.worker.options import WorkerOptions
from taskqueue.worker.worker import Worker

from .failures import failed, tail

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def task_env(monkeypatch, redis_server, tq_prefix):
    """What the test tasks (and the workers we start) read from the environment."""
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("TASKQUEUE_PREFIX", tq_prefix)


@pytest.fixture
def evidence(redis_client, tq_prefix):
    """The notes tasks left (tests/taskapp/tasks.py: note())."""
    return lambda: redis_client.lrange(f"{tq_prefix}:evidence", 0, -1)


@pytest.fixture
def spawn_worker(request, redis_server, tq_prefix, tmp_path):
    """Start `manage.py runworker ...` processes; all are killed at the end of the test,
    and when the test failed, the last lines of each one's log are printed."""
    procs = []

    def spawn(*args: str, lease: float = 30.0, env: dict | None = None) -> subprocess.Popen:
        log = open(tmp_path / f"worker-{len(procs)}.log", "wb")  # noqa: SIM115 - closed with the process
        full_env = (
            os.environ
            | {
                "DJANGO_SETTINGS_MODULE": "tests.settings",
                "REDIS_URL": redis_server.url,
                "TASKQUEUE_PREFIX": tq_prefix,
                "TASKQUEUE_LEASE_SECONDS": str(lease),
                "PYTHONUNBUFFERED": "1",
            }
            | (env or {})
        )
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "runworker", *args],
            cwd=ROOT,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        proc.log_path = log.name
        procs.append((proc, log))
        return proc

    yield spawn
    for proc, log in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        log.close()
    if failed(request):
        for proc, log in procs:
            print(f"--- {Path(log.name).name} (exit {proc.returncode}) ---\n{tail(log.name)}")


def options(**overrides) -> WorkerOptions:
    return WorkerOptions(**({"queues": ("default",), "concurrency": 4, "grace": 2.0} | overrides))


def run_burst(**overrides) -> Worker:
    worker = Worker(options(burst=True, **overrides), get_config())
    assert worker.run(install_signals=False) == 0
    return worker


@pytest.fixture
def background_worker():
    """Start an in-process worker in a thread; it is stopped (as by SIGTERM) afterwards."""
    started = []

    def start(**overrides) -> Worker:
        worker = Worker(options(**overrides), get_config())
        thread = threading.Thread(target=worker.run, kwargs={"install_signals": False}, daemon=True)
        thread.start()
        assert worker.ready.wait(10), "the worker did not start"
        started.append((worker, thread))
        return worker

    yield start
    for worker, thread in started:
        worker.stop_from_thread()
        thread.join(timeout=15)
        assert not thread.is_alive(), "the worker did not stop"


async def with_async_broker(body):
    """`await body(broker)` with an AsyncRedisBroker on the test's settings, closed after."""
    client = connect_async(get_config())
    try:
        return await body(AsyncRedisBroker(client, get_config()))
    finally:
        await client.aclose()
