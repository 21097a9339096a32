"""Hooks for TASKQUEUE["EVENT_HOOK"] in the tests (tests/test_event_hook.py): one that
keeps what it receives, one that raises, and a value that is not callable."""

import threading

received = []  # the TaskEvents `keep` got, in order
gate = threading.Event()  # `wait_for_gate` blocks on it
NOT_CALLABLE = 42


def keep(event) -> None:
    received.append(event)


def explode(event) -> None:
    raise RuntimeError(f"hook broken on {event.event}")


def wait_for_gate(event) -> None:
    gate.wait(10)
    received.append(event)


def to_evidence(event) -> None:
    """For worker processes: each event as JSON on the test's evidence list in Redis."""
    import json

    from tests.taskapp.tasks import note  # the worker process's evidence list

    note(json.dumps(event.to_dict()))
