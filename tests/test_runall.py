"""The README's run command end to end: `manage.py runall` on embedded defaults starts
Redis, the web server and a worker, answers over HTTP, runs a task, and one SIGINT
stops everything gracefully."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil
import pytest
import redis

from taskqueue.embedded_redis import default_socket_path, free_port
from tests.support.waits import wait_for

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def answers(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - a local URL
            return response.status
    except OSError:
        return None


def declared_huge_body_status(port: int) -> int:
    """The status of a POST that announces a 1 GB body (and sends none of it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000000\r\n\r\n"
        )
        return int(sock.recv(4096).split()[1])


def test_runall_starts_the_product_and_one_sigint_stops_it_all(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "TASKQUEUE_PREFIX")}
    env |= {"TASKQUEUE_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings"}
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    port = free_port()
    log = tmp_path / "runall.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*manage, "runall", "--port", str(port), "--no-demo"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(lambda: answers(f"http://127.0.0.1:{port}/login/") == 200, timeout=60)
            assert declared_huge_body_status(port) == 413  # its daphne has the body cap
            client = redis.Redis(
                unix_socket_path=str(default_socket_path(tmp_path)), decode_responses=True
            )
            wait_for(lambda: client.zcard("tq:workers") == 1, timeout=30, message="a worker")
            script = "from demo.tasks import fast; print(fast.enqueue(21).result(timeout=30))"
            ran = subprocess.run(
                [*manage, "shell", "-c", script],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert ran.stdout.strip().splitlines()[-1] == "42", (ran.stdout, ran.stderr)
            children = psutil.Process(proc.pid).children(recursive=True)
            proc.send_signal(signal.SIGINT)
            assert proc.wait(60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    text = log.read_text()
    assert "Console: http://127.0.0.1:" in text and "password" in text
    assert f"Redis: started {shutil.which('redis-server')} on unix://" in text
    assert "stopping now" not in text, "one Ctrl-C is one signal: the worker kept its grace"
    assert "Stopped the embedded Redis." in text
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert not readable_by_others(tmp_path, but=log), "var/ holds sessions and task arguments"


def readable_by_others(var_dir: Path, but: Path) -> list[str]:
    """What under var_dir a local user other than this one could read."""
    found = [p for p in [var_dir, *var_dir.rglob("*")] if p != but and not p.is_socket()]
    return [f"{p} {p.stat().st_mode & 0o777:o}" for p in found if p.stat().st_mode & 0o077]
