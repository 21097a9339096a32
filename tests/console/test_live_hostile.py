"""A console socket that misbehaves: messages of any shape, size, depth, type or
encoding, and every way a socket can end. The consumer survives every message, a socket
never holds more than MAX_WATCHED watches, and whatever ends a socket releases all of
them: a socket that died with its watches registered kept the relay rendering them (and
reading Redis for them) for as long as the web process lived."""

import asyncio
import contextlib
import json
import uuid

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.contrib.sessions.models import Session

from dashboard.live import consumers
from dashboard.live import relay as relay_module
from dashboard.live.access_changes import user_group
from dashboard.live.consumers import MAX_MESSAGE, MAX_WATCHED, parse_watch
from dashboard.live.relay import RELAY, Relay, Subscriber

from .sockets import LOCAL, communicator, next_close, receive_until, session_cookie, until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("in_memory_layer")]

BOMB = "[" * 60_000  # under MAX_MESSAGE, and far deeper than json.loads can recurse
INITIAL = ["queue-card:default", "totals:all"]
CARD = 'id="queue-default"'


@pytest.fixture(autouse=True)
def forget_leftovers(relay_stops):
    """A test that fails leaves its leaked watches behind: forget them before the next."""
    yield
    for sub in RELAY.registered():
        RELAY.remove(sub)


def running_watches(n: int) -> list[str]:
    """n watches of elements no page shows: each costs the relay a read every refresh."""
    return [f"task-running:{uuid.uuid4().hex}" for _ in range(n)]


def items(watch: list) -> set:
    return parse_watch(json.dumps({"watch": watch}))


def held(sub: Subscriber) -> set:
    """Every element the relay keeps for a connection."""
    return sub.watched | sub.fresh | set(sub.sent)


async def send_text(ws, text: str) -> None:
    await ws.send_input({"type": "websocket.receive", "text": text})


async def open_socket(cookie, watch: list):
    """A socket watching `watch`, and the relay's subscriber for it."""
    before = {id(s) for s in RELAY.registered()}
    ws = communicator(LOCAL, cookie)
    assert (await ws.connect())[0]
    new = lambda: [s for s in RELAY.registered() if id(s) not in before]  # noqa: E731
    await until(lambda: len(new()) == 1, 5, "the socket registered")
    sub = new()[0]
    await ws.send_json_to({"watch": watch})
    await until(lambda: sub.watched == items(watch), 5, "the watch list registered")
    return ws, sub


async def answer_to(ws, watch: list, needle: str) -> str:
    """What the socket sends back for a new watch list, or how it failed to."""
    try:
        await ws.send_json_to({"watch": watch})
        return await receive_until(ws, needle)
    except Exception as exc:  # the application died: the communicator re-raises its error
        return f"no answer: {exc!r}"


async def leave(ws, code: int = 1000) -> None:
    """The client goes (whatever state the application is in)."""
    with contextlib.suppress(Exception, asyncio.CancelledError):
        await ws.disconnect(code=code)


def test_a_recursion_bomb_leaves_the_socket_working_and_no_watch_behind(viewer, relay_stops):
    cookie = session_cookie(viewer)

    async def scenario():
        ws, _ = await open_socket(cookie, running_watches(MAX_WATCHED))
        await send_text(ws, BOMB)
        answer = await answer_to(ws, ["queue-card:default"], CARD)
        await leave(ws)
        return answer

    answer = async_to_sync(scenario)()
    assert RELAY.registered() == [], "the socket's watches outlived it"
    assert CARD in answer


# -- every way a socket ends --------------------------------------------------------------


async def bomb_then_leave(ws, cookie):
    await send_text(ws, BOMB)
    await leave(ws)


async def deep_object_then_leave(ws, cookie):
    await send_text(ws, '{"a":' * 12_000)
    await leave(ws)


async def binary_then_drop(ws, cookie):
    await ws.send_input({"type": "websocket.receive", "bytes": b"\xff\x00" * 1000})
    await leave(ws, code=1006)


async def task_cancelled(ws, cookie):
    """The server cancels the application (daphne does past its close timeout)."""
    ws.future.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await ws.future


async def logged_out(ws, cookie):
    """The session ends: the server closes the socket; the client never answers."""
    key = cookie[1].decode().partition("=")[2]
    await sync_to_async(Session.objects.filter(session_key=key).delete)()
    closed = await next_close(ws)
    assert closed == {"type": "websocket.close", "code": consumers.CLOSE_FORBIDDEN}


async def closed(ws, cookie):
    await leave(ws)


ENDINGS = (bomb_then_leave, deep_object_then_leave, binary_then_drop, task_cancelled,
           logged_out, closed)  # fmt: skip


def test_sockets_that_misbehave_and_go_leave_the_relay_and_their_group_empty(
    viewer, relay_stops, monkeypatch
):
    """...and the user's group in the channel layer (access changes are sent to it)."""
    monkeypatch.setattr(consumers, "RECHECK_S", 0.05)
    sockets = []
    layer, name = get_channel_layer(), user_group(viewer.pk)
    in_group = lambda: layer.groups.get(name, {})  # noqa: E731 (the layer drops an empty group)

    async def scenario():
        for n in range(30):
            cookie = await sync_to_async(session_cookie)(viewer)  # a session per socket
            ws, _ = await open_socket(cookie, running_watches(MAX_WATCHED))
            assert in_group(), "the socket did not join its user's group"
            sockets.append(ws)
            await ENDINGS[n % len(ENDINGS)](ws, cookie)
        with contextlib.suppress(AssertionError):
            await until(lambda: not RELAY.registered() and not in_group(), 2, "every socket gone")
        left = len(RELAY.registered()), len(in_group())
        for ws in sockets:  # whatever is still running, for the next test's sake
            await task_cancelled(ws, None)
        return left

    watches, members = async_to_sync(scenario)()
    assert watches == 0, "sockets that were gone still had watches"
    assert members == 0, "sockets that were gone were still in their user's group"


def test_a_socket_never_holds_more_than_the_cap_of_watches(viewer, relay_stops):
    cookie = session_cookie(viewer)
    many = json.dumps({"watch": [f"task-row:{n}" for n in range(3500)]})
    assert len(many) <= MAX_MESSAGE

    async def scenario():
        ws, sub = await open_socket(cookie, INITIAL)
        last = []
        for _ in range(6):  # each message names MAX_WATCHED new elements
            last = running_watches(MAX_WATCHED)
            await ws.send_json_to({"watch": last})
        await until(lambda: sub.watched == items(last), 5, "the last list registered")
        most = len(held(sub))
        await send_text(ws, many)
        await until(lambda: ("task-row", "0") in sub.watched, 5, "the long list registered")
        most = max(most, len(held(sub)))
        await leave(ws)
        return most

    assert async_to_sync(scenario)() <= MAX_WATCHED


def test_the_relay_itself_keeps_no_more_than_the_cap_for_a_connection():
    relay = Relay()
    sub = Subscriber(deliver=lambda html: None, can_operate=False)
    relay._subscribers.append(sub)  # registered without starting the thread
    for _ in range(5):
        relay.watch(sub, {("task-running", uuid.uuid4().hex) for _ in range(MAX_WATCHED)})
        assert len(held(sub)) <= MAX_WATCHED
    relay.watch(sub, {("task-row", str(n)) for n in range(3 * MAX_WATCHED)})
    assert len(held(sub)) <= MAX_WATCHED
    relay.remove(sub)
    relay.watch(sub, {("totals", "all")})  # a late message of a socket that is gone
    assert held(sub) == set()


# -- hostile messages -----------------------------------------------------------------------

SAME = None  # the message is refused as a whole: the watch list stays what it was
NOTHING: list = []  # a well-formed message whose entries are all invalid: watch nothing

# (case id, the frame's text or bytes, the watch list afterwards)
HOSTILE = [
    ("array-bomb", BOMB, SAME),
    ("object-bomb", '{"a":' * 12_000, SAME),
    ("bomb-inside-watch", '{"watch": ' + "[" * 50_000, SAME),
    ("deep-entry", '{"watch": [' + '{"a":' * 10_000 + "1" + "}" * 10_000 + "]}", SAME),
    ("too-long", '{"watch": ["totals:all"' + ', "x"' * 20_000 + "]}", SAME),
    ("empty", "", SAME),
    ("not-json", "watch me", SAME),
    ("truncated", '{"watch": ["totals:all"', SAME),
    ("bom", '\ufeff{"watch": ["totals:all"]}', SAME),
    ("nul", "\x00", SAME),
    ("raw-lone-surrogate", '{"watch": ["task-row:\ud800"]}', NOTHING),
    ("escaped-lone-surrogate", '{"watch": ["task-row:\\ud800", "totals:all"]}', ["totals:all"]),
    ("surrogate-kind", '{"watch": ["\\udc00:x"]}', NOTHING),
    ("nul-in-key", '{"watch": ["task-row:a\\u0000b"]}', NOTHING),
    ("key-too-long", json.dumps({"watch": ["task-row:" + "a" * 65]}), NOTHING),
    ("prototype-kinds", '{"watch": ["__class__:x", "constructor:all", "get:all"]}', NOTHING),
    ("bad-queue-name", '{"watch": ["queue-card:Bad Name", "queue-card:{x}"]}', NOTHING),
    ("huge-integer", '{"watch": [' + "9" * 5000 + "]}", SAME),
    ("huge-integer-alone", "9" * 60_000, SAME),
    ("float-overflow", '{"watch": [1e999999, -1e999999]}', NOTHING),
    ("nan", '{"watch": [NaN, Infinity]}', NOTHING),
    ("wrong-types", '{"watch": [null, true, 1, 1.5, [], {}, ["totals:all"]]}', NOTHING),
    ("watch-null", '{"watch": null}', SAME),
    ("watch-string", '{"watch": "totals:all"}', SAME),
    ("watch-object", '{"watch": {"totals:all": 1}}', SAME),
    ("watch-number", '{"watch": 1e999}', SAME),
    ("duplicate-key", '{"watch": ["totals:all"], "watch": 7}', SAME),
    ("top-level-array", '[{"watch": ["totals:all"]}]', SAME),
    ("top-level-string", '"watch"', SAME),
    ("top-level-null", "null", SAME),
    ("wide-object", "{" + ",".join(f'"k{n}":0' for n in range(5000)) + "}", SAME),
    ("wide-array", '{"watch": [' + ",".join(["[]"] * 20_000) + "]}", NOTHING),
    ("binary-junk", b"\xff\xfe\x00" * 100, SAME),
    ("binary-json", b'{"watch": ["queue-header:default"]}', SAME),
    ("bytes-as-text", {"text": b'{"watch": ["totals:all"]}'}, SAME),
    ("neither-text-nor-bytes", {}, SAME),
    ("both-null", {"text": None, "bytes": None}, SAME),
]


def frame(message) -> dict:
    if isinstance(message, dict):
        return {"type": "websocket.receive", **message}
    key = "bytes" if isinstance(message, bytes) else "text"
    return {"type": "websocket.receive", key: message}


@pytest.mark.parametrize(
    ("message", "after"), [pytest.param(*row[1:], id=row[0]) for row in HOSTILE]
)
def test_a_hostile_message_leaves_the_consumer_alive_and_the_relay_consistent(
    viewer, relay_stops, monkeypatch, message, after
):
    """After the message, the socket still follows a new watch list (the marker); the
    message changed the watch list exactly as the table says; nothing is left behind."""
    cookie, calls, real_watch = session_cookie(viewer), [], RELAY.watch
    marker = ["totals:all", "queue-header:default"]

    def recording(sub, new):
        calls.append(set(new))
        real_watch(sub, new)

    monkeypatch.setattr(RELAY, "watch", recording)

    async def scenario():
        ws, sub = await open_socket(cookie, INITIAL)
        await ws.send_input(frame(message))
        await ws.send_json_to({"watch": marker})
        with contextlib.suppress(AssertionError):
            await until(lambda: ws.future.done() or sub.watched == items(marker), 5, "marker")
        alive = not ws.future.done() and sub.watched == items(marker)
        await leave(ws)
        return alive

    alive = async_to_sync(scenario)()
    assert alive, "the consumer died of the message, or stopped following its page"
    assert RELAY.registered() == [], "a watch outlived the socket"
    changed = [] if after is SAME else [items(after)]
    assert calls == [items(INITIAL), *changed, items(marker)]


def test_an_element_that_fails_to_render_does_not_starve_the_others(monkeypatch):
    """Whatever one fragment raises (a record no reader foresaw), the relay still
    pushes every other element, to this page and to the others."""
    real = relay_module.render_fragment

    def render(kind, key, *, can_operate):
        if key == "poison":
            raise RecursionError("maximum recursion depth exceeded")
        return real(kind, key, can_operate=can_operate)

    monkeypatch.setattr(relay_module, "render_fragment", render)
    relay, inbox = Relay(), []
    sub = Subscriber(deliver=inbox.append, can_operate=False)
    relay._subscribers.append(sub)
    relay.watch(sub, {("task-panel", "poison"), ("queue-card", "default")})
    relay.push(relay_module.Changes(), refresh=False)
    assert len(inbox) == 1 and CARD in inbox[0]
