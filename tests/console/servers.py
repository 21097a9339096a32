"""Real processes for the browser tests: a project database set up by `manage.py`,
daphne serving config.asgi on a free port, and `manage.py runworker`."""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from taskqueue.embedded_redis import free_port

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "browser-test-password"


def project_env(redis_url: str, prefix: str, var_dir: Path) -> dict[str, str]:
    """The environment every child runs with: the session's Redis under the test
    prefix (broker and channel layer), and its own SQLite database."""
    return os.environ | {
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "REDIS_URL": redis_url,
        "TASKQUEUE_PREFIX": prefix,
        "CHANNELS_REDIS_URL": redis_url,
        "CHANNELS_PREFIX": f"{prefix}-channels:",
        "TASKQUEUE_VAR_DIR": str(var_dir),
        "DATABASE_URL": f"sqlite:///{var_dir / 'db.sqlite3'}",
        "PYTHONUNBUFFERED": "1",
    }


def manage(env: dict, *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip


def prepare_database(env: dict) -> None:
    manage(env, "migrate", "--noinput")
    admin = env | {"DJANGO_SUPERUSER_PASSWORD": PASSWORD}
    email = "admin@example.com"
    manage(admin, "createsuperuser", "--noinput", "--username", "admin", "--email", email)


class Child:
    """A child process whose output goes to a log file; stopped with SIGTERM, then KILL."""

    def __init__(self, argv: list[str], env: dict, log: Path):
        self.argv, self.env, self.log_path = argv, env, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Child":
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT)  # fmt: skip
        log.close()
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


# daphne with the console sockets' periodic access re-check every N s (argv[1]), so that
# a test can tell a pushed access change from the re-check.
DAPHNE_WITH_RECHECK = (
    "import sys, django; django.setup(); from dashboard.live import consumers; "
    "consumers.RECHECK_S = float(sys.argv.pop(1)); "
    "from daphne.cli import CommandLineInterface; CommandLineInterface.entrypoint()"
)


class Daphne(Child):
    def __init__(self, env: dict, log: Path, port: int | None = None,
                 recheck_s: float | None = None):  # fmt: skip
        self.port = port or free_port()
        serve = ["-b", "127.0.0.1", "-p", str(self.port), "config.asgi:application"]
        if recheck_s is None:
            argv = [sys.executable, "-m", "daphne", *serve]
        else:
            argv = [sys.executable, "-c", DAPHNE_WITH_RECHECK, str(recheck_s), *serve]
        super().__init__(argv, env, log)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> "Daphne":
        super().start()
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"daphne did not start:\n{self.log()}")
            time.sleep(0.1)
        return self

    def answers(self) -> bool:
        try:
            login = f"{self.url}/login/"  # always http://127.0.0.1:<port>
            with urllib.request.urlopen(login, timeout=1) as response:  # noqa: S310
                return response.status == 200
        except OSError:
            return False


def worker(env: dict, log: Path, queues: str = "default") -> Child:
    argv = [sys.executable, "manage.py", "runworker", "--queues", queues,
            "--concurrency", "4", "--grace", "1"]  # fmt: skip
    return Child(argv, env, log)
