"""var/ holds the secret key, the SQLite database (sessions) and the embedded Redis's
AOF (task arguments): the directory is 0700 and every file in it 0600, whatever the
umask, and an older install's files are tightened on start."""

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from taskqueue.embedded_redis import RedisProcess
from taskqueue.private_files import private_dir

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def open_umask():
    """The umask most systems have (022): what a file gets when nobody asks."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def modes(directory: Path) -> dict[str, int]:
    paths = [directory, *directory.rglob("*")]
    return {str(p.relative_to(directory)): mode(p) for p in paths if not p.is_socket()}


def private(found: dict[str, int], directory: Path) -> bool:
    return all(m == (0o700 if (directory / name).is_dir() else 0o600) for name, m in found.items())


def manage(*argv: str, var_dir: Path, **env: str) -> subprocess.CompletedProcess:
    keep = ("PATH", "HOME", "LANG")
    full_env = {k: os.environ[k] for k in keep if k in os.environ}
    full_env |= {"DJANGO_SETTINGS_MODULE": "config.settings", "TASKQUEUE_VAR_DIR": str(var_dir)}
    return subprocess.run(
        [sys.executable, "manage.py", *argv],
        cwd=ROOT,
        env=full_env | env,
        capture_output=True,
        text=True,
        timeout=120,
        umask=0o022,
    )


def test_a_fresh_var_dir_is_private_and_migrate_works_with_only_secret_key_set(tmp_path):
    var_dir = tmp_path / "var"
    ran = manage("migrate", "-v0", var_dir=var_dir, SECRET_KEY="x" * 50)
    assert ran.returncode == 0, ran.stderr
    assert mode(var_dir) == 0o700
    assert mode(var_dir / "db.sqlite3") == 0o600
    assert not (var_dir / "secret_key").exists()


def test_the_generated_secret_key_and_the_database_are_0600(tmp_path):
    var_dir = tmp_path / "var"
    ran = manage("migrate", "-v0", var_dir=var_dir)
    assert ran.returncode == 0, ran.stderr
    found = modes(var_dir)
    assert {"secret_key", "db.sqlite3"} <= set(found)
    assert private(found, var_dir), found


def test_sqlite_gives_its_wal_and_shm_the_database_files_mode(tmp_path, open_umask):
    var_dir = tmp_path / "var"
    assert manage("migrate", "-v0", var_dir=var_dir).returncode == 0
    db = sqlite3.connect(var_dir / "db.sqlite3")
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (x)")
        db.execute("INSERT INTO t VALUES (1)")
        db.commit()
        wal, shm = var_dir / "db.sqlite3-wal", var_dir / "db.sqlite3-shm"
        assert wal.exists() and shm.exists()
        assert (mode(wal), mode(shm)) == (0o600, 0o600)
    finally:
        db.close()


def test_an_older_installs_files_are_tightened_on_start(tmp_path):
    var_dir = tmp_path / "var"
    assert manage("migrate", "-v0", var_dir=var_dir).returncode == 0
    for name in ("db.sqlite3", "secret_key"):
        (var_dir / name).chmod(0o644)
    ran = manage("check", var_dir=var_dir)
    assert ran.returncode == 0, ran.stderr
    assert mode(var_dir / "db.sqlite3") == mode(var_dir / "secret_key") == 0o600


def test_the_default_var_dir_is_tightened_but_a_chosen_one_keeps_its_mode(tmp_path):
    default, chosen = tmp_path / "default", tmp_path / "chosen"
    for directory in (default, chosen):
        directory.mkdir(mode=0o755)
        directory.chmod(0o755)
    private_dir(default, tighten=True)
    private_dir(chosen, tighten=False)
    assert (mode(default), mode(chosen)) == (0o700, 0o755)


def test_the_embedded_redis_writes_its_aof_and_log_0600(tmp_path, open_umask):
    data_dir = tmp_path / "redis"
    with RedisProcess(data_dir, port=0, unix_socket=tmp_path / "r.sock") as server:
        client = redis.Redis.from_url(server.url)
        client.set("secret", "card number")
        client.bgrewriteaof()
        client.close()
    found = modes(data_dir)
    assert any(name.endswith(".aof") for name in found), found
    assert private(found, data_dir), found


def test_the_embedded_redis_tightens_an_older_runs_files(tmp_path, open_umask):
    data_dir = tmp_path / "redis"
    (data_dir / "appendonlydir").mkdir(parents=True, mode=0o755)
    (data_dir / "redis.log").touch(mode=0o644)
    with RedisProcess(data_dir, port=0, unix_socket=tmp_path / "r.sock"):
        pass
    found = modes(data_dir)
    assert private(found, data_dir), found
