"""A task in a queue no setting names (TASKQUEUE['QUEUES'] is ["default"] in the tests):
a worker started without --queues must serve it (tests/worker/test_default_queues.py)."""

from taskqueue import task

from .tasks import note

NEWSLETTERS = "newsletters"


@task(queue=NEWSLETTERS)
def newsletter(tag: str) -> str:
    note(tag)
    return tag
