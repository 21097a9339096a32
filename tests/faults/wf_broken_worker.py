"""Broken twins of `manage.py runworker` for R14 (test_r14_workflows.py): patch the
workflow engine in this process only, then run the management command.

    python tests/faults/wf_broken_worker.py runworker ...   (env FAULTS_BREAK=<mode>)

One mode is a fault, not a twin (the engine is left as it is):
  crash-in-advance  the process SIGKILLs itself, one time in FAULTS_CRASH_ONE_IN (env),
                 in either window of a release: after a completion was recorded (with
                 its outbox entry) but before the outbox is applied, or after the
                 workflow's script named the children to start but before they start

Broken twins:
  no-advance     the worker never applies its queues' outboxes after a report, and its
                 maintenance never sweeps them: a child is never released
  release-early  before an outbox's completions are applied, every child of each
                 completed node is marked as having no parent left to wait for: a
                 child is released when its first parent completes
  release-twice  the release is not guarded by the task's status (each task named is
                 set back to waiting before start_waiting), and each outbox batch is
                 applied twice, as after a crash between applying and deleting it: a
                 child is released again by the second application
"""

import json
import os
import random
import signal

CRASH_ONE_IN = int(os.environ.get("FAULTS_CRASH_ONE_IN", "20"))


def _flat(args) -> list:
    """The tasks to start among `_start`'s arguments (workflow id -> (storage queue,
    task id, args JSON) for each, one after the other), all workflows together."""
    starts = next((a for a in args if isinstance(a, dict)), {})
    return [value for flat in starts.values() for value in flat]


def _crash_in_advance() -> None:
    from taskqueue.broker.workflow_ops import WorkflowOperations
    from taskqueue.worker.advancing import Advancer

    def maybe_die() -> None:
        if random.randrange(CRASH_ONE_IN) == 0:
            os.kill(os.getpid(), signal.SIGKILL)

    soon, start = Advancer.soon, WorkflowOperations._start

    def soon_or_die(self, queue):
        maybe_die()  # recorded and in the outbox, not applied
        soon(self, queue)

    def start_or_die(self, *args, **kwargs):
        if _flat(args):
            maybe_die()  # released in the workflow's slot, still waiting in the queue
        return (yield from start(self, *args, **kwargs))

    Advancer.soon = soon_or_die
    WorkflowOperations._start = start_or_die


def _no_advance() -> None:
    from taskqueue.worker.advancing import Advancer
    from taskqueue.worker.maintenance import Maintenance

    def soon(self, queue):
        return None

    async def advance_workflows(self):
        return None

    Advancer.soon = soon
    Maintenance.advance_workflows = advance_workflows


def _release_early() -> None:
    from taskqueue.broker.requests import Commands, commands
    from taskqueue.broker.workflow_ops import WorkflowOperations

    apply = WorkflowOperations._apply

    def patched(self, outcomes, *rest, **kwargs):
        for workflow_id, values in outcomes.items():
            done = [values[i] for i in range(0, len(values), 4) if values[i + 2] == "completed"]
            w = self.keys.workflow(workflow_id)
            if not done:
                continue
            (specs,) = yield from commands(
                Commands(lambda pipe, w=w, done=done: pipe.hmget(w.spec, done))
            )
            children = {c for text in specs if text for c in json.loads(text).get("c", [])}
            if children:
                zero = dict.fromkeys(children, 0)
                yield from commands(
                    Commands(lambda pipe, w=w, zero=zero: pipe.hset(w.remaining, mapping=zero))
                )
        return (yield from apply(self, outcomes, *rest, **kwargs))

    WorkflowOperations._apply = patched


def _release_twice() -> None:
    from taskqueue.broker.requests import Commands, commands
    from taskqueue.broker.workflow_ops import WorkflowOperations

    apply, start = WorkflowOperations._apply, WorkflowOperations._start

    def apply_twice(self, *args, **kwargs):
        yield from apply(self, *args, **kwargs)
        return (yield from apply(self, *args, **kwargs))

    def unguarded(self, *args, **kwargs):
        flat = _flat(args)
        named = [self.keys.queue(flat[i]).task(flat[i + 1]) for i in range(0, len(flat), 3)]

        def back_to_waiting(pipe):
            for key in named:
                pipe.hset(key, "status", "waiting")

        if named:
            yield from commands(Commands(back_to_waiting))
        return (yield from start(self, *args, **kwargs))

    WorkflowOperations._apply = apply_twice
    WorkflowOperations._start = unguarded


MODES = {
    "crash-in-advance": _crash_in_advance,
    "no-advance": _no_advance,
    "release-early": _release_early,
    "release-twice": _release_twice,
}


if __name__ == "__main__":
    from broken_worker import main  # the same start-up as the rig's twins (this folder)

    main(MODES)
