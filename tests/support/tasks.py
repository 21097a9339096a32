"""The sample tasks the tests enqueue in this process, registered when this module is
imported (the api and console conftest.py import it, so tests that name a task only by
its name find it too). Worker processes run the tasks of tests/taskapp/ instead."""

from taskqueue import task


@task
def add(a, b):
    return a + b


@task(queue="emails", priority=8, max_retries=1, timeout=30, name="custom.send")
def send(to, subject=""):
    return to


@task(name="tests.api.echo")
def echo(*args, **kwargs):
    return {"args": list(args), "kwargs": kwargs}


@task(name="tests.api.mail", queue="emails", max_retries=0)
def mail(to):
    return to


@task(name="console.sample")
def sample(*args, **kwargs):
    return None


@task(name="console.other", queue="emails")
def other(*args, **kwargs):
    return None
