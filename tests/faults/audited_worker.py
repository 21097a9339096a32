"""Run `manage.py runworker ...` in this process under an audit hook (PEP 578) that
records every module import, every exec/eval/compile and every attempt to start a
program, one JSON line per event appended to a file - so a test can prove that running
untrusted Redis contents imports and executes nothing it names.

    python tests/faults/audited_worker.py EVENTS_FILE [--warmup QUEUE] [--naive-resolver] \
        -- --burst --queues default ...

With --warmup, a first `runworker --burst --queues QUEUE` runs before the hook goes in:
the test puts a few ordinary tasks there (one completes, one fails, one has an unknown
name), so every module the worker imports lazily on its usual paths (system checks, the
failure and dead-letter paths, the archiver) is loaded by then, and what the hook sees
afterwards is what the records under test caused. Each event is written with one
os.write on a descriptor opened beforehand (no audited call inside the hook).

--naive-resolver is the broken twin: the registry, asked for a name it does not know,
first imports the module the name points into, as an engine that resolves task names
by import would. The test shows the hook reports that import (the check can fail).
"""

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPAWNS = frozenset(
    {
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.fork",
        "os.forkpty",
        "os.startfile",
        "subprocess.Popen",
        "pty.spawn",
        "ctypes.dlopen",
    }
)
WATCHED = SPAWNS | {"import", "exec", "compile"}


def caller(depth: int = 6) -> str:
    """file:line of the Python frames that caused the event (outside this hook),
    innermost first."""
    frame, found = sys._getframe(2), []
    while frame is not None and len(found) < depth:
        found.append(f"{frame.f_code.co_filename}:{frame.f_lineno}")
        frame = frame.f_back
    return " < ".join(found)


def install(fd: int) -> None:
    busy = []

    def hook(event: str, args: tuple) -> None:
        if event not in WATCHED or busy:
            return
        busy.append(1)
        try:
            if event == "import":
                detail = str(args[0])
            elif event == "exec":
                code = args[0]
                detail = getattr(code, "co_filename", repr(code)[:200])
            elif event == "compile":
                source = args[0]
                text = source.decode(errors="replace") if isinstance(source, bytes) else source
                detail = f"{args[1]}: {str(text)[:120]}"
            else:
                detail = repr(args)[:300]
            line = json.dumps({"event": event, "detail": detail, "caller": caller()})
            os.write(fd, (line + "\n").encode())
        finally:
            busy.pop()

    sys.addaudithook(hook)


def naive_resolver() -> None:
    """The twin: resolve unknown task names by importing their module."""
    import contextlib
    import importlib

    from taskqueue.errors import TaskNotFound
    from taskqueue.registry import Registry

    known = Registry.get

    def get(self, name):
        try:
            return known(self, name)
        except TaskNotFound:
            module = str(name).rpartition(".")[0]
            if module:
                with contextlib.suppress(Exception):  # the twin only needs the import tried
                    importlib.import_module(module)
            raise

    Registry.get = get


def main(argv: list[str]) -> None:
    events_file, *rest = argv
    split = rest.index("--")
    own, worker_args = rest[:split], rest[split + 1 :]
    naive = "--naive-resolver" in own
    warmup = own[own.index("--warmup") + 1] if "--warmup" in own else None
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.core.management import execute_from_command_line

    import taskqueue.client
    import taskqueue.management.commands.runworker
    import taskqueue.safety
    import taskqueue.worker.worker  # noqa: F401 - imported before the hook goes in

    if warmup:
        execute_from_command_line(["manage.py", "runworker", "--burst", "--queues", warmup])
    if naive:
        naive_resolver()
    fd = os.open(events_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    install(fd)
    execute_from_command_line(["manage.py", "runworker", *worker_args])


if __name__ == "__main__":
    main(sys.argv[1:])
