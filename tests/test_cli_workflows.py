"""`tq workflow show|list|cancel`: workflows driven through the broker as a worker would
(claim, complete or fail, then apply the outbox), then read and cancelled from the shell.
A cancel is audited like every tq action; bad input is a CommandError (exit status 1,
one line on stderr, no traceback) and changes nothing."""

import json

import pytest
from django.core.management import CommandError, ManagementUtility, call_command

from taskqueue.inspect import get_workflow
from taskqueue.models import AuditEvent
from taskqueue.workflows import chain, chord, group
from tests.support.records import make_dead
from tests.support.tasks import echo

from . import finished


def tq(capsys, *argv) -> str:
    call_command("tq", "workflow", *argv)
    return capsys.readouterr().out.strip()


def from_the_shell(capsys, *argv) -> tuple[int, str]:
    """`manage.py tq workflow ...` as a shell runs it: (exit status, stderr). Without
    the system checks: Django's model checks would ask the database (these tests have
    none), and they are not what these tests are about."""
    with pytest.raises(SystemExit) as exit_:
        ManagementUtility(["manage.py", "tq", "--skip-checks", "workflow", *argv]).execute()
    return exit_.value.code, capsys.readouterr().err


def run_one(broker, queue="default"):
    """Claim the queue's next task, complete it, and apply the outbox."""
    (claimed,) = broker.claim(queue, "w1", 1)
    broker.complete(queue, [(claimed.id, claimed.attempt, json.dumps(None))])
    broker.advance([queue])
    return claimed


def blocked(broker, handle):
    """Its first task dead (the queue's next one), so the workflow is blocked."""
    make_dead(broker, handle["0"])
    broker.advance([handle["0"].queue])
    return handle


def rows(out: str) -> list[list[str]]:
    """The lines after the first blank one (the node table), split into columns."""
    table = out.split("\n\n", 1)[1]
    return [line.split(maxsplit=4) for line in table.splitlines()]


def test_show_prints_the_summary_then_a_line_per_task(broker, capsys):
    handle = chain(echo.s(1), echo.s(), echo.s()).enqueue(name="nightly")
    first = run_one(broker)
    out = tq(capsys, "show", handle.id)
    summary = out.split("\n\n")[0].splitlines()
    assert summary[:4] == [
        f"workflow   {handle.id}",
        "name       nightly",
        "status     running (on failure: wait)",
        "tasks      1/3 completed, 0 dead, 0 cancelled",
    ]
    assert summary[4].startswith("created    20") and summary[5] == "finished   -"
    assert summary[6] == "by status  waiting 1, pending 1, completed 1"
    assert rows(out) == [
        ["KEY", "QUEUE", "STATUS", "TASK", "PARENTS"],
        ["0", "default", "completed", first.id, "-"],
        ["1", "default", "pending", handle["1"].id, "0"],
        ["2", "default", "waiting", handle["2"].id, "1"],
    ]


def test_show_lists_fifty_tasks_of_a_big_workflow_and_counts_the_rest(broker, capsys):
    handle = group(echo.s(i) for i in range(60)).enqueue()
    out = tq(capsys, "show", handle.id)
    assert "by status  pending 60" in out
    *table, rest = rows(out)
    assert [r[0] for r in table[1:]] == [str(i) for i in range(50)]
    assert " ".join(rest) == "... and 10 more task(s)"


def test_show_names_a_few_parents_of_a_chord_callback_and_counts_the_rest(broker, capsys):
    handle = chord(group(echo.s(i) for i in range(7)), echo.s()).enqueue()
    callback = rows(tq(capsys, "show", handle.id))[-1]
    assert callback[:3] == ["7", "default", "waiting"]
    assert callback[4] == "0, 1, 2, 3, 4 (+2 more)"


def test_show_tells_a_blocked_workflow_and_its_dead_task(broker, capsys):
    handle = blocked(broker, chain(echo.s(1), echo.s()).enqueue())
    out = tq(capsys, "show", handle.id)
    assert "status     blocked (on failure: wait)" in out
    assert "tasks      0/2 completed, 1 dead, 0 cancelled" in out
    assert [r[2] for r in rows(out)[1:]] == ["dead", "waiting"]


def test_list_shows_the_newest_workflows_and_filters_by_status(broker, capsys):
    stuck = blocked(broker, chain(echo.s(1), echo.s()).enqueue(name="stuck"))
    fine = chain(echo.s(2), echo.s()).enqueue(name="fine")
    listed = [line.split() for line in tq(capsys, "list").splitlines()]
    assert listed[0] == ["ID", "STATUS", "DONE", "DEAD", "CREATED", "NAME"]
    assert sorted((r[0], r[1], r[2], r[3], r[-1]) for r in listed[1:]) == sorted(
        [(stuck.id, "blocked", "0/2", "1", "stuck"), (fine.id, "running", "0/2", "0", "fine")]
    )
    only = tq(capsys, "list", "--status", "blocked").splitlines()
    assert [line.split()[0] for line in only[1:]] == [stuck.id]
    assert tq(capsys, "list", "--status", "cancelled") == "No workflows cancelled."


@pytest.mark.django_db
def test_cancel_cancels_the_unfinished_tasks_and_is_audited(broker, capsys):
    handle = chain(echo.s(1), echo.s(), echo.s()).enqueue()
    run_one(broker)
    out = tq(capsys, "cancel", handle.id, "--user", "ann")
    assert out == f"{handle.id}: cancelled; 2 task(s) cancelled now."
    assert get_workflow(handle.id).status == "cancelled"
    event = finished.only_event()
    assert (event.actor, event.source, event.action, event.count) == (
        "ann",
        "cli",
        "cancel_workflow",
        2,
    )
    assert (event.status_before, event.status_after, event.detail) == (
        "running",
        "cancelled",
        {"workflow": handle.id},
    )


@pytest.mark.django_db
def test_cancel_says_when_a_workflow_already_was_cancelled(broker, capsys):
    handle = chain(echo.s(1), echo.s()).enqueue()
    tq(capsys, "cancel", handle.id, "--user", "ann")
    assert tq(capsys, "cancel", handle.id, "--user", "ann") == (
        f"{handle.id}: cancelled (it already was)."
    )


@pytest.mark.django_db
def test_a_completed_workflow_is_not_cancelled_and_nothing_is_recorded(broker):
    handle = chain(echo.s(1)).enqueue()
    run_one(broker)
    with pytest.raises(CommandError, match="is completed: there is nothing to cancel"):
        call_command("tq", "workflow", "cancel", handle.id)
    assert get_workflow(handle.id).status == "completed"
    assert AuditEvent.objects.count() == 0


def test_cancelling_a_completed_workflow_from_the_shell_is_one_line_and_status_1(broker, capsys):
    """(Without the database: a command run from the shell closes every connection at
    exit, which a test's transaction on PostgreSQL would not survive.)"""
    handle = chain(echo.s(1)).enqueue()
    run_one(broker)
    status, err = from_the_shell(capsys, "cancel", handle.id)
    assert status == 1
    assert err == f"CommandError: workflow {handle.id} is completed: there is nothing to cancel.\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["show", "no-such-workflow"], "no workflow with id 'no-such-workflow'"),
        (["cancel", "no-such-workflow"], "no workflow with id 'no-such-workflow'"),
        (["list", "--status", "stuck"], "status 'stuck' is not one of running, blocked, "),
        (["list", "--limit", "0"], "limit must be an integer from 1 to 200"),
    ],
)
@pytest.mark.django_db
def test_bad_input_is_a_command_error_and_records_nothing(broker, argv, message):
    chain(echo.s(1), echo.s()).enqueue()
    with pytest.raises(CommandError, match=message):
        call_command("tq", "workflow", *argv)
    assert AuditEvent.objects.count() == 0


HOSTILE_IDS = {
    "spaces": "a workflow id",
    "10 kB": "x" * 10_000,
    "unicode": "ワークフロー-ünïcode",
    "braces": "{wf:x}:info",
    "control": "a\x1b[31mred\x00",
    "empty": "",
}


@pytest.mark.parametrize("action", ["show", "cancel"])
@pytest.mark.parametrize("workflow_id", HOSTILE_IDS.values(), ids=HOSTILE_IDS.keys())
def test_a_hostile_id_is_a_short_clear_error_without_a_traceback(
    broker, capsys, action, workflow_id
):
    status, err = from_the_shell(capsys, action, workflow_id)
    assert status == 1
    assert err.startswith("CommandError: no workflow with id ")
    assert err.count("\n") == 1 and len(err) < 200
    assert "\x1b" not in err and "\x00" not in err
