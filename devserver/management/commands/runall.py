"""`manage.py runall`: the whole product in one command, for development and demos.

Starts, as child processes: the embedded Redis (only when REDIS_URL is not set), the
web server (daphne: console + API), one worker, and the demo traffic generator when the
demo app is installed (TASKQUEUE_DEMO=1, the default; `--no-demo` leaves it out).
Prints the console URL and how to log in, and stops everything on Ctrl-C or SIGTERM.
If any child dies, the others are stopped and the command exits non-zero.
"""

import ctypes
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from taskqueue import safety
from taskqueue.broker import answers
from taskqueue.conf import get_config
from taskqueue.embedded_redis import RedisProcess, default_socket_path


class Command(BaseCommand):
    help = "Run Redis (if REDIS_URL is unset), the web console + API, and a worker."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-worker", action="store_true", help="Do not start a worker.")
        parser.add_argument(
            "--no-demo",
            action="store_true",
            help="Do not start the demo traffic (started when the demo app is installed).",
        )
        parser.add_argument("--demo-rate", type=float, default=5.0, help="Demo tasks per second.")

    def handle(self, *args, host, port, no_worker, no_demo=False, demo_rate=5.0, **options):
        try:  # before anything starts: the web process and the worker would refuse too
            safety.refuse_insecure(get_config())
        except safety.InsecureRedis as exc:
            raise CommandError(str(exc)) from None
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.redis = None
        self.stopping = False
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        try:
            self._start_redis()
            safety.check_server_when_reachable(get_config())  # logs eviction/persistence risks
            login = self._ensure_login()
            self._spawn(
                "web",
                [
                    sys.executable,
                    "-m",
                    "daphne",
                    "-b",
                    host,
                    "-p",
                    str(port),
                    settings.ASGI_APPLICATION.replace(".application", ":application"),
                ],
            )
            if not no_worker and _worker_available():
                self._spawn("worker", [sys.executable, "manage.py", "runworker"])
            if not no_demo and apps.is_installed("demo"):
                self._spawn("demo", demo_argv(demo_rate))
            self._announce(host, port, login)
            self._watch()
        finally:
            self._stop_all()

    def _start_redis(self) -> None:
        if os.environ.get("REDIS_URL"):
            self.stdout.write(f"Redis: {settings.TASKQUEUE['REDIS_URL']} (from REDIS_URL)")
            return
        sock = default_socket_path(settings.VAR_DIR)
        if answers(f"unix://{sock}"):
            self.stdout.write(f"Redis: reusing the embedded one already running on {sock}")
            return
        self.redis = RedisProcess(Path(settings.VAR_DIR) / "redis", unix_socket=sock).start()
        self.stdout.write(
            f"Redis: started {self.redis.binary} on unix://{sock}, data in {self.redis.data_dir}"
        )

    def _ensure_login(self) -> str:
        users = get_user_model()
        password_file = Path(settings.VAR_DIR) / "admin-password"
        if not users.objects.exists():
            password = secrets.token_urlsafe(12)
            users.objects.create_superuser("admin", "", password)
            fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(password + "\n")
        if password_file.exists():
            password = password_file.read_text().strip()
            return f"user admin, password {password} (kept in {password_file})"
        return "an existing user (python manage.py createsuperuser makes a new one)"

    def _spawn(self, name: str, argv: list[str]) -> None:
        """Each child gets a session of its own: a Ctrl-C reaches only this command,
        which forwards one SIGTERM (a worker would take a group SIGINT plus our SIGTERM
        as two signals and skip its grace period). If this command dies, the children
        get SIGTERM from the kernel instead of running on."""
        proc = subprocess.Popen(
            argv,
            cwd=settings.BASE_DIR,
            start_new_session=True,
            preexec_fn=_terminate_with_parent,
            umask=0o077,  # whatever a child writes under var/ is this user's only
        )
        self.children.append((name, proc))

    def _announce(self, host: str, port: int, login: str) -> None:
        self.stdout.write(self.style.SUCCESS(f"\n  Console: http://{host}:{port}/"))
        self.stdout.write(f"  API:     http://{host}:{port}/api/v1/")
        self.stdout.write(f"  Log in:  {login}")
        self.stdout.write("  Stop:    Ctrl-C\n")

    def _watch(self) -> None:
        while not self.stopping:
            for name, proc in self.children:
                if proc.poll() is not None:
                    raise CommandError(f"{name} exited with status {proc.returncode}; stopping.")
            time.sleep(0.5)

    def _on_signal(self, signum, frame) -> None:
        if self.stopping:  # a second Ctrl-C: the worker releases its tasks at once
            self._signal_children()
        self.stopping = True

    def _signal_children(self) -> None:
        for _, proc in self.children:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    def _stop_all(self) -> None:
        self._signal_children()
        for _, proc in self.children:
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.redis is not None:
            self.redis.stop()
            self.stdout.write("Stopped the embedded Redis.")


def _terminate_with_parent() -> None:
    """In the child, before exec: ask Linux for SIGTERM when the parent dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the children then rely on our signals
        pass


def demo_argv(rate: float) -> list[str]:
    """The demo traffic generator (demo/management/commands/demo.py) as a child."""
    return [sys.executable, "manage.py", "demo", "--rate", f"{rate:g}"]


def _worker_available() -> bool:
    from django.core.management import get_commands

    return get_commands().get("runworker") == "taskqueue"
