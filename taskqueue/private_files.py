"""Files only this user may read: the secret key, the SQLite database and the embedded
Redis's data (its AOF holds task arguments) live under var/, which is 0700 with every
file in it 0600, whatever the umask. Set by whoever creates them, and tightened on
start for an install made before this held."""

import os
from pathlib import Path


def private_dir(path: Path, *, tighten: bool) -> Path:
    """Create `path` readable by this user only (0700, whatever the umask). With
    `tighten`, an existing directory of this user's is set to 0700 too (var/ of an
    install made before it was created private); a directory someone else chose and
    made keeps its mode."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if tighten:
        make_private(path)
    return path


def private_sqlite(database: Path) -> None:
    """The SQLite database file, created empty and 0600 before SQLite opens it (an empty
    file is a new database). SQLite gives its -wal and -shm files the database file's
    mode, so none of the three is ever readable by others; files of an older install
    are set to 0600."""
    if not database.parent.is_dir():
        return  # a path whose directory does not exist: SQLite's own error says so
    if not database.exists():
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        make_private(path)


def make_private(path: Path) -> None:
    """0700 for a directory, 0600 for a file, when it exists and is this user's."""
    try:
        stat = path.lstat()
    except FileNotFoundError:
        return
    if stat.st_uid != os.geteuid() or path.is_symlink():
        return
    mode = 0o700 if path.is_dir() else 0o600
    if stat.st_mode & 0o777 != mode:
        path.chmod(mode)


def make_private_tree(directory: Path) -> None:
    """Create `directory` 0700, and set what an older run left in it to 0700 / 0600."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for path in [directory, *directory.rglob("*")]:
        if not path.is_socket():
            make_private(path)
