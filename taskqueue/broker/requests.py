"""What an operation sends to Redis, as plain values, and the plans that send them.

An operation (operations.py) is declared once, as a function that does no I/O: it
returns a plan, a generator that yields the steps below and receives their raw
replies. The sync broker (redis_broker.py) and the async one (async_broker.py) each
only know how to send a step; everything else (parsing replies into outcomes, moving
keys of the wrong type aside and trying again, fanning out over a sharded queue's
sub-queues) is written once, here and in operations.py, for both.

Steps:
- ScriptCall: one Lua script; its raw reply, or the ResponseError it raised.
- Commands: plain commands in one pipeline; the list of their raw replies, each
  reply or the ResponseError its command met.
- Batch: several ScriptCalls in one round trip (a pipeline; on a cluster, at once);
  a raw reply or ResponseError each.
"""

import functools
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import ResponseError

from .damage import HEAL_ROUNDS, damage_in, log_moved, unhealed
from .errors import engine_error, engine_exception
from .scripts import translate

type Plan[T] = Generator[Any, Any, T]


@dataclass(slots=True)
class ScriptCall:
    script: str
    keys: list[str]
    args: list
    parse: Callable[[Any], Any] = field(default=lambda reply: reply)
    task_id: str = ""  # for translating an error reply into the engine's exception
    action: str = ""
    queue: str = ""  # the (sub-)queue whose keys it touches
    heals: bool = True  # on damage (damage.py): move the keys aside and call again
    quarantine: Callable[[str, list], "ScriptCall"] | None = None  # builds that move


@dataclass(slots=True)
class Commands:
    """Plain commands queued on a pipeline (`queue(pipe)`), one round trip."""

    queue: Callable[[Any], None]
    parse: Callable[[list], Any] = field(default=lambda replies: replies)


@dataclass(slots=True)
class Batch:
    calls: Sequence[ScriptCall]


def script(call: ScriptCall) -> Plan:
    """Run one script call: its parsed reply. A script that met keys of the wrong type
    changed nothing and said which (damage.py): they are moved aside and it runs again,
    a few times at most; then DamagedKey."""
    for _ in range(HEAL_ROUNDS):
        reply = yield call
        if isinstance(reply, ResponseError):
            raise translate(reply, call.task_id, call.action)
        damage = damage_in(reply)
        if damage is None:
            return call.parse(reply)
        if not call.heals or call.quarantine is None:
            break
        log_moved(call.queue, (yield from script(call.quarantine(call.queue, damage))))
    raise unhealed(damage)


def commands(step: Commands) -> Plan:
    """Run plain commands: their parsed replies (see settled)."""
    return settled(step, (yield step))


def settled(step: Commands, replies: list):
    """The parsed replies of plain commands; an error reply is raised as the engine's
    exception (a key of the wrong type: DamagedKey)."""
    for reply in replies:
        if isinstance(reply, ResponseError):
            raise engine_error(reply)
    return step.parse(replies)


def batch(calls: Sequence[ScriptCall]) -> Plan[list]:
    """Run script calls in one round trip: a parsed reply per call, or the exception
    that call met (one call's trouble costs no other call its outcome). A call that
    reported damage runs again on its own."""
    replies = yield Batch(calls)
    out = []
    for call, reply in zip(calls, replies, strict=True):
        if isinstance(reply, ResponseError):
            out.append(translate(reply, call.task_id, call.action))
        elif isinstance(reply, Exception):  # a cluster node that did not answer, say
            out.append(engine_exception(reply))
        elif damage_in(reply) is None:
            out.append(call.parse(reply))
        else:
            out.append((yield from outcome(script(call))))
    return out


def outcome(plan: Plan) -> Plan:
    """The plan's result, or the exception it raised (as a value)."""
    try:
        return (yield from plan)
    except Exception as exc:
        return exc


def every(replies: list) -> list:
    """The replies of a batch, raising the first exception among them."""
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies


class operation:  # noqa: N801 - used as a decorator, like property
    """Declares a broker operation once (see the module's doc)."""

    def __init__(self, build: Callable):
        self.build = build
        functools.update_wrapper(self, build)

    def __get__(self, broker, owner=None):
        return self if broker is None else Bound(self.build, broker)

    def __call__(self, broker, *args, **kwargs):
        """`Operations.claim(broker, ...)`, as a method called on its class."""
        return Bound(self.build, broker)(*args, **kwargs)


class Bound:
    """An operation of one broker: call it to perform it, `.call(...)` to build it."""

    __slots__ = ("broker", "build")

    def __init__(self, build: Callable, broker):
        self.build, self.broker = build, broker

    def __call__(self, *args, **kwargs):
        return self.broker.perform(as_plan(self.build(self.broker, *args, **kwargs)))

    def call(self, *args, **kwargs) -> ScriptCall:
        return self.build(self.broker, *args, **kwargs)


def as_plan(work) -> Plan:
    """An operation's result as a plan: a ScriptCall or Commands alone is wrapped."""
    if isinstance(work, ScriptCall):
        return script(work)
    if isinstance(work, Commands):
        return commands(work)
    return work


def drive(plan: Plan, send: Callable[[Any], Any]):
    """Run a plan with a synchronous `send(step) -> raw reply`."""
    reply = None
    while True:
        try:
            step = plan.send(reply)
        except StopIteration as done:
            return done.value
        reply = send(step)


async def drive_async(plan: Plan, send):
    """Run a plan with `await send(step) -> raw reply`."""
    reply = None
    while True:
        try:
            step = plan.send(reply)
        except StopIteration as done:
            return done.value
        reply = await send(step)
