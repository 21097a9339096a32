"""The demo app: its traffic generator, and `runall` starting it."""

import pytest
from django.core.management import call_command

from devserver.management.commands import runall
from taskqueue import inspect

pytestmark = pytest.mark.django_db


def test_the_demo_command_enqueues_a_mix_of_the_demo_tasks():
    call_command("demo", rate=1000, count=300, seed=7, workflow_every=0)
    counts = [inspect.queue_counts(q) for q in inspect.queues()]
    assert sum(c.pending + c.scheduled for c in counts) == 300
    names = {r.name for r in inspect.search_tasks(inspect.TaskFilter(), limit=200).items}
    assert {"demo.tasks.fast", "demo.tasks.flaky", "demo.tasks.always_fails"} <= names
    assert sum(c.scheduled for c in counts) > 0  # some are delayed


def test_the_demo_sends_example_workflows_too():
    call_command("demo", rate=1000, count=20, seed=3, workflow_every=0.01)
    (newest, *_) = inspect.list_workflows()
    assert newest.name.startswith("report-") and newest.total >= 5
    assert inspect.queue_counts("low").waiting >= 1  # bundle waits for the pages
    assert inspect.queue_counts("default").waiting >= 1  # publish waits for bundle


def test_runall_starts_the_demo_at_the_chosen_rate():
    argv = runall.demo_argv(20.0)
    assert argv[1:] == ["manage.py", "demo", "--rate", "20"]


def test_the_demo_can_be_left_out_of_runall():
    parser = runall.Command().create_parser("manage.py", "runall")
    assert parser.parse_args(["--no-demo"]).no_demo is True
    assert parser.parse_args([]).no_demo is False
