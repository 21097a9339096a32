"""The demo's traffic: a weighted mix of the example tasks, so queues move, some
tasks retry and a few end in the dead-letter queue."""

import random

from taskqueue.records import NewTask
from taskqueue.workflows import chain, chord, group

from . import tasks

DEMO_SECRET = "not-a-real-secret"  # noqa: S105 - shows the console masking it


def welcome(rng: random.Random) -> NewTask:
    to = f"user{rng.randint(1, 99)}@example.com"
    return tasks.send_welcome.prepare(to, password=DEMO_SECRET, api_key=DEMO_SECRET)


# (weight, how to prepare one call)
MIX = [
    (40, lambda r: tasks.fast.prepare(r.randint(0, 1000))),
    (15, lambda r: tasks.fetch.prepare(round(r.uniform(0.05, 0.5), 2))),
    (15, lambda r: tasks.flaky.prepare(0.5)),
    (8, lambda r: tasks.slow.prepare(round(r.uniform(0.5, 3.0), 1))),
    (3, lambda r: tasks.always_fails.prepare(r.choice(["boom", "bad input", "no such row"]))),
    (2, lambda r: tasks.export.prepare(r.randint(10, 30))),
    (5, lambda r: welcome(r)),
    (12, lambda r: tasks.fast.using(delay=r.uniform(5, 30)).prepare(r.randint(0, 1000))),
]
_WEIGHTS = [weight for weight, _ in MIX]


def batch(count: int, rng: random.Random) -> list[NewTask]:
    """`count` prepared calls drawn from the mix."""
    return [make(rng) for _, make in rng.choices(MIX, weights=_WEIGHTS, k=count)]


def pipeline(rng: random.Random):
    """An example workflow: render a few pages in parallel, bundle them once all are
    rendered (a chord), then publish the bundle (a chain); one time in five a page
    fails for good, so the console shows a blocked workflow too."""
    pages = rng.randint(3, 12)
    name = f"report-{rng.randint(1000, 9999)}"
    members = [tasks.render_page.s(n) for n in range(pages)]
    if rng.random() < 0.2:
        members.append(tasks.always_fails.using(queue="default").si("page would not render"))
    flow = chain(chord(group(members), tasks.bundle.s(name)), tasks.publish.s())
    return flow.enqueue(name=name)
