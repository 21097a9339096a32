"""The whole path: a task enqueued over HTTP to the real ASGI server (daphne) is run by
a real worker process (`manage.py runworker`), and its result is read back over HTTP."""

import subprocess

import pytest

from tests.support.waits import wait_for

pytestmark = pytest.mark.slow


def test_a_task_enqueued_over_http_is_run_by_a_real_worker(live_stack):
    worker = live_stack.spawn("manage.py", "runworker", "--concurrency", "2", "--grace", "5")
    try:
        status, task = live_stack.request(
            "POST", "tasks", {"task": "demo.tasks.fast", "args": [21]}
        )
        assert (status, task["status"], task["queue"]) == (201, "pending", "high")

        def finished():
            status, current = live_stack.request("GET", f"tasks/{task['id']}")
            return current if status == 200 and current["status"] == "completed" else None

        done = wait_for(finished, 30, "the worker to complete the task")
        assert done["result"] == 42 and done["attempts"] == 1
        healthy = lambda: live_stack.request("GET", "health")[1].get("status") == "ok"  # noqa: E731
        wait_for(healthy, 30, "/health to see the worker")
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
