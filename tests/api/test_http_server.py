"""The API behind the real ASGI server (daphne), where HTTP framing matters."""

import pytest

pytestmark = pytest.mark.slow


def chunks(total: int, size: int = 64 * 1024):
    yield b'{"task": "demo.tasks.always_fails", "args": ["'
    for _ in range(total // size):
        yield b"x" * size
    yield b'"]}'


def test_a_chunked_body_over_the_limit_is_413_without_content_length(live_stack):
    status, body = live_stack.request(
        "POST", "tasks", body=chunks(2 * 1024 * 1024), headers={"Content-Type": "application/json"}
    )
    assert status == 413
    assert body["error"]["code"] == "payload_too_large"


def test_a_small_chunked_body_is_read_whole(live_stack):
    status, body = live_stack.request(
        "POST", "tasks", body=chunks(100_000), headers={"Content-Type": "application/json"}
    )
    assert status == 201
    assert len(body["args"][0]) == 65536  # one whole chunk of x (100_000 // 65_536 = 1)
