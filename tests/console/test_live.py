"""Live updates: the WebSocket handshake checks, the relay's fragments, coalescing."""

import pytest
from asgiref.sync import async_to_sync, sync_to_async

from dashboard.live import relay as relay_module
from dashboard.live.consumers import parse_watch
from dashboard.live.relay import Relay, Subscriber
from taskqueue import services
from taskqueue.audit import Actor
from tests.support.tasks import sample

from .sockets import LOCAL, communicator, receive_until, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("in_memory_layer")]


def handshake(*headers) -> bool:
    async def scenario():
        ws = communicator(*headers)
        connected, _ = await ws.connect()
        await ws.disconnect()
        return connected

    return async_to_sync(scenario)()


def test_an_anonymous_visitor_is_refused_at_the_handshake():
    assert handshake(LOCAL) is False


def test_a_user_without_the_console_permission_is_refused(nobody):
    assert handshake(LOCAL, session_cookie(nobody)) is False


def test_a_page_from_a_foreign_origin_is_refused(viewer):
    assert handshake((b"origin", b"https://evil.example"), session_cookie(viewer)) is False


def test_a_page_from_another_port_of_the_same_host_is_refused(viewer):
    assert handshake((b"origin", b"http://localhost:1"), session_cookie(viewer)) is False


def test_a_viewer_from_an_allowed_origin_is_accepted(viewer, relay_stops):
    assert handshake(LOCAL, session_cookie(viewer)) is True


def test_an_enqueue_reaches_a_watching_overview_as_a_queue_card(viewer, relay_stops):
    cookie = session_cookie(viewer)

    async def scenario():
        ws = communicator(LOCAL, cookie)
        assert (await ws.connect())[0]
        await ws.send_json_to({"watch": ["queue-card:default", "totals:all"]})
        first = await receive_until(ws, 'id="queue-default"')
        assert "<dt>Pending</dt><dd>0</dd>" in first
        await sync_to_async(sample.enqueue)(1)
        update = await receive_until(ws, "<dt>Pending</dt><dd>1</dd>")
        assert 'hx-swap-oob="true"' in update
        await ws.disconnect()

    async_to_sync(scenario)()


def test_a_cancel_reaches_a_watched_task_row(operator, relay_stops):
    handle, cookie = sample.enqueue(1), session_cookie(operator)

    async def scenario():
        ws = communicator(LOCAL, cookie)
        assert (await ws.connect())[0]
        await ws.send_json_to({"watch": [f"task-row:{handle.id}"]})
        await receive_until(ws, f'id="task-{handle.id}"')
        await sync_to_async(services.cancel)(Actor("t", "console"), handle.id)
        update = await receive_until(ws, "status cancelled")
        assert f'id="task-{handle.id}"' in update
        await ws.disconnect()

    async_to_sync(scenario)()


def test_the_watch_list_keeps_only_known_kinds_and_valid_keys():
    message = (
        '{"watch": ["queue-card:default", "queue-card:Bad Name", "nope:x", "totals:all", '
        '"totals:other", "task-row:abc", 7]}'
    )
    assert parse_watch(message) == {
        ("queue-card", "default"),
        ("totals", "all"),
        ("task-row", "abc"),
    }
    assert parse_watch("not json") is None
    assert parse_watch('{"watch": "x"}') is None


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_flood_of_events_is_coalesced_into_a_few_pushes(monkeypatch):
    """2,000 state changes within one (simulated) second reach a page as at most
    1 / PUSH_INTERVAL + 1 messages, each carrying the latest state."""
    monkeypatch.setattr(relay_module, "READ_BLOCK", 0.001)
    clock = FakeClock()
    relay, messages = Relay(clock=clock), []
    sub = Subscriber(deliver=messages.append, can_operate=False)
    relay._subscribers.append(sub)  # registered without starting the thread
    relay.watch(sub, {("queue-card", "default")})
    relay.step()  # follows the streams from now on; sends the freshly watched card
    messages.clear()
    for tick in range(20):  # 20 steps of 50 ms: one simulated second
        for _ in range(100):
            sample.enqueue(tick)
        clock.now += 0.05
        relay.step()
    pushes = 1 / relay_module.PUSH_INTERVAL
    assert 1 <= len(messages) <= pushes + 1
    clock.now += 1
    relay.step()
    assert "<dt>Pending</dt><dd>2000</dd>" in messages[-1]


def test_an_unchanged_fragment_is_not_sent_again():
    clock = FakeClock()
    relay, messages = Relay(clock=clock), []
    sub = Subscriber(deliver=messages.append, can_operate=False)
    relay._subscribers.append(sub)
    relay.watch(sub, {("queue-header", "default")})
    relay.step()
    sample.enqueue(1)
    services.cancel(Actor("t", "console"), sample.enqueue(2).id)
    clock.now += 1
    relay.step()
    sent = len(messages)
    relay.push(relay_module.Changes(queues={"default"}), refresh=True)
    assert len(messages) == sent == 2


def test_one_relay_serves_every_connection_of_a_process_from_one_read(monkeypatch):
    reads = []
    real = relay_module.inspect.follow_events

    def counting(cursors, **kw):
        reads.append(1)
        return real(cursors, **kw)

    monkeypatch.setattr(relay_module.inspect, "follow_events", counting)
    clock = FakeClock()
    relay, inboxes = Relay(clock=clock), [[], [], []]
    for inbox in inboxes:
        sub = Subscriber(deliver=inbox.append, can_operate=False)
        relay._subscribers.append(sub)
        relay.watch(sub, {("queue-card", "default")})
    relay.step()
    sample.enqueue(1)
    clock.now += 1
    relay.step()
    assert len(reads) == 2
    assert all(len(inbox) == 2 and "<dd>1</dd>" in inbox[-1] for inbox in inboxes)
