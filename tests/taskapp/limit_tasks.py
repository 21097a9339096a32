"""Bodies for the flow-control tests (tests/flow/): each notes when it started and
ended, so a test can count how many ran at once and how fast they started."""

import time

from taskqueue import current_task, task

from .tasks import note

__all__ = [
    "fair_job",
    "flow_fragile",
    "flow_free",
    "flow_hang",
    "flow_limited",
    "flow_queue_task",
]


def _run(kind: str, tag: str, seconds: float = 0.0) -> str:
    note(f"start|{kind}|{tag}|{time.time():.6f}")
    if seconds:
        time.sleep(seconds)
    note(f"end|{kind}|{tag}|{time.time():.6f}")
    return tag


@task(queue="flow", rate_limit="20/s")
def flow_limited(tag: str) -> str:
    return _run("limited", tag)


@task(queue="flow", concurrency_limit=2)
def flow_fragile(tag: str, seconds: float = 0.3) -> str:
    return _run("fragile", tag, seconds)


@task(queue="flow", concurrency_limit=1, timeout=None)
def flow_hang(tag: str, seconds: float = 0.0) -> str:
    """Runs `seconds` on its first attempt (the test kills its worker meanwhile), at
    once on a later one."""
    return _run("hang", tag, seconds if current_task().attempt == 1 else 0.0)


@task(queue="flow")
def flow_free(tag: str) -> str:
    return _run("free", tag)


@task(queue="flowq")
def flow_queue_task(tag: str) -> str:
    """In a queue whose own limit the test sets (TASKQUEUE["LIMITS"] or at run time)."""
    return _run("queue", tag)


@task(queue="fair")
def fair_job(tag: str) -> str:
    """Notes the order in which tenants' tasks start (tests/flow/test_tenants.py)."""
    note(f"start|fair|{tag}|{time.time():.6f}")
    return tag
