"""Written as a Celery user writes tasks; only the import changed (it was
`from celery import chain, chord, group, shared_task`)."""

from taskqueue.celery_compat import chain, chord, group, shared_task


@shared_task
def add(x, y):
    return x + y


@shared_task
def mul(x, y):
    return x * y


@shared_task(ignore_result=False)
def xsum(numbers):
    return sum(numbers)


@shared_task(
    bind=True,
    autoretry_for=(ConnectionError,),
    retry_backoff=True,
    retry_backoff_max=1,
    max_retries=5,
    acks_late=True,
)
def fetch(self, url):
    """Fails twice as an unreachable host does, then answers."""
    if self.request.retries < 2:
        raise ConnectionError(f"{url} did not answer")
    return {"url": url, "id": self.request.id, "retries": self.request.retries}


@shared_task(bind=True, max_retries=3, default_retry_delay=0)
def charge(self, amount):
    try:
        if self.request.retries == 0:
            raise TimeoutError("payment gateway timed out")
    except TimeoutError as exc:
        raise self.retry(exc=exc) from exc
    return amount


@shared_task(bind=True)
def export(self, rows):
    for done in range(1, rows + 1):
        self.update_state(state="PROGRESS", meta={"done": done, "total": rows})
    return rows


@shared_task(queue="reports", time_limit=30)
def report(day):
    return f"report for {day}"


@shared_task
def crash():
    raise ValueError("not in autoretry_for: Celery would not retry this")


def doubled_total(numbers):
    """A canvas built where a Celery project builds one (a view, a service)."""
    return chord(group(add.s(n, n) for n in numbers), xsum.s())


def arithmetic():
    return chain(add.s(2, 2), mul.s(4), add.si(1, 1))
