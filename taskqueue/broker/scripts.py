"""Loading the Lua scripts, calling them by SHA, and translating their errors.

Each script file opens with a header that lists KEYS, ARGV, the return value and the
error codes. `--- @include "name"` lines are replaced by `lua/includes/<name>.lua`
(plain file inclusion; script text is never built from values). The number of KEYS a
header declares is checked on every call, so a wrapper passing the wrong keys fails
loudly instead of touching the wrong data; a header ending its list with `KEYS[n..]`
takes n keys or more.
"""

import re
from functools import cache
from importlib import resources

from redis.commands.core import Script
from redis.exceptions import NoScriptError, ResponseError

from ..errors import InvalidTransition, QuotaExceeded, TaskDoesNotExist, TaskQueueError
from .connection import packs_exactly
from .errors import engine_error
from .keys import wire

_INCLUDE = re.compile(r'^--- @include "([a-z_]+)"$', re.MULTILINE)
_HEADER_KEYS = re.compile(r"\bKEYS\[(\d+)(\.\.)?\]")


@cache
def source(name: str) -> str:
    """The full text of lua/<name>.lua with its includes inlined."""
    text = _read(f"{name}.lua")
    return _INCLUDE.sub(lambda m: _read(f"includes/{m.group(1)}.lua"), text)


def header(name: str) -> str:
    text = _read(f"{name}.lua")
    return text[: text.index("]]") + 2]


@cache
def declared_keys(name: str) -> int:
    """How many KEYS the script's header declares."""
    return max((int(n) for n, _ in _HEADER_KEYS.findall(header(name))), default=0)


@cache
def keys_fit(name: str, count: int) -> bool:
    """Whether `count` KEYS is what the script's header declares."""
    more = any(dots for _, dots in _HEADER_KEYS.findall(header(name)))
    declared = declared_keys(name)
    return count == declared or (more and count > declared)


def names() -> list[str]:
    folder = resources.files(__package__).joinpath("lua")
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".lua"))


def _read(relative: str) -> str:
    return resources.files(__package__).joinpath("lua", relative).read_text()


class Scripts:
    """All scripts registered on one client, sync or asyncio: `scripts.run(name, keys,
    args)` returns the reply (a coroutine of it on an asyncio client). KEYS that do
    not fit the script's header are refused before anything is sent."""

    def __init__(self, client):
        self._scripts: dict[str, tuple[Script, int]] = {
            name: (client.register_script(source(name)), declared_keys(name)) for name in names()
        }
        self._exact = packs_exactly(client)  # else each argument goes through keys.wire

    def run(self, name: str, keys: list[str], args: list, client=None):
        script = self._checked(name, keys)
        if not self._exact:
            keys, args = [wire(k) for k in keys], [wire(a) for a in args]
        return script(keys=keys, args=args, client=client)

    def queue(self, name: str, keys: list[str], args: list, pipe) -> None:
        """Add the script's EVALSHA to a pipeline (sync or asyncio). Not through the
        Script object: a pipeline holding Script objects sends SCRIPT EXISTS for them
        all, one more round trip, before every execute. A NOSCRIPT reply (Redis lost
        its scripts: a restart, SCRIPT FLUSH) means the script did not run; the caller
        runs that call again with `run`, which loads it (see `missing`)."""
        script = self._checked(name, keys)
        if not self._exact:
            keys, args = [wire(k) for k in keys], [wire(a) for a in args]
        pipe.evalsha(script.sha, len(keys), *keys, *args)

    def _checked(self, name: str, keys: list[str]) -> Script:
        script, n_keys = self._scripts[name]
        if not keys_fit(name, len(keys)):
            raise TaskQueueError(f"{name}: passed {len(keys)} KEYS, its header declares {n_keys}")
        return script


def missing(replies: list) -> list[int]:
    """The positions of a pipeline's replies that say NOSCRIPT (nothing ran there)."""
    return [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]


def translate(exc: ResponseError, task_id: str, action: str) -> Exception:
    """Map a script's error reply ('TQ_<CODE> detail') to the engine's exception."""
    code, _, detail = str(exc).partition(" ")
    if code == "TQ_NOT_FOUND":
        return TaskDoesNotExist(task_id)
    if code == "TQ_INVALID_TRANSITION":
        return InvalidTransition(task_id, action, detail)
    if code == "TQ_QUOTA":  # 'TQ_QUOTA <queue> <tenant or -> <backlog> <maximum>'
        queue, tenant, backlog, maximum = detail.split(" ")
        return QuotaExceeded(queue, None if tenant == "-" else tenant, int(backlog), int(maximum))
    return engine_error(exc)
