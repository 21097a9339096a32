"""The product as it runs: its own Redis, a migrated SQLite file, an API token, and
daphne serving config.asgi on a free port, all as child processes. Used by the
real-HTTP tests and by bench/api_bench.py. Every wait polls a condition with a deadline."""

import http.client
import json
import os
import subprocess
import sys
from pathlib import Path

from taskqueue.embedded_redis import RedisProcess, free_port
from tests.support.waits import wait_for

ROOT = Path(__file__).resolve().parents[2]
SETUP_USER = """
from django.contrib.auth.models import Permission, User
user = User.objects.create_user("svc")
user.user_permissions.add(*Permission.objects.filter(
    codename__in=["view_console", "operate_tasks"]))
"""


class LiveStack:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.redis = RedisProcess(workdir / "redis", port=free_port(), persistent=False)
        self.port = free_port()
        self.processes: list[subprocess.Popen] = []
        self.token = ""

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "REDIS_URL": self.redis.url,
            "DATABASE_URL": f"sqlite:///{self.workdir / 'db.sqlite3'}",
            "TASKQUEUE_VAR_DIR": str(self.workdir / "var"),
            "SECRET_KEY": "live-stack-only-not-a-secret",
            "LOG_LEVEL": "WARNING",
            "TASKQUEUE_DEMO": "1",  # the demo tasks are what the end-to-end test runs
        }

    def start(self) -> "LiveStack":
        self.redis.start()
        self.manage("migrate", "--noinput")
        self.manage("shell", "-c", SETUP_USER)
        self.token = self.manage(
            "createapitoken", "--user", "svc", "--scopes", "read,enqueue,operate"
        ).strip()
        self.daphne = self.start_daphne()
        return self

    def start_daphne(self) -> subprocess.Popen:
        """daphne serving config.asgi on self.port, once it answers."""
        argv = ["-m", "daphne", "-v", "0", "-b", "127.0.0.1", "-p", str(self.port)]
        process = self.spawn(*argv, "config.asgi:application")
        wait_for(lambda: self.request("GET", "openapi.json")[0] == 200, 30, "daphne to answer")
        return process

    def restart_daphne(self) -> None:
        """A fresh web process on the same port (memory a process once grew to, it keeps)."""
        self.daphne.terminate()
        self.daphne.wait(timeout=30)
        self.processes.remove(self.daphne)
        self.daphne = self.start_daphne()

    def manage(self, *args: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env,
            check=True, capture_output=True, text=True, timeout=120,
        ).stdout  # fmt: skip

    def spawn(self, *args: str) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=self.env)
        self.processes.append(process)
        return process

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def request(self, method: str, path: str, body=None, headers=None) -> tuple[int, dict]:
        """(status, parsed JSON body) of one request, (0, {}) if nothing answers."""
        sent = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        if isinstance(body, (dict, list)):  # JSON; bytes and iterables of bytes go as they are
            body = json.dumps(body)
            sent["Content-Type"] = "application/json"
        try:
            conn = self.connection()
            conn.request(method, f"/api/v1/{path}", body=body, headers=sent)
            response = conn.getresponse()
            status, raw = response.status, response.read()
            conn.close()
        except OSError:
            return 0, {}
        return status, json.loads(raw) if raw.startswith(b"{") else {}

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.redis.stop()
