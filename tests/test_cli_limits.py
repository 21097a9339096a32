"""`tq limits show|set|clear`: a queue's flow-control limits read and changed from the
shell. Declared limits are written as a worker writes them; tasks are held back by a
real claim. A change is audited with the CLI's actor; bad input is a CommandError
(exit status 1, one line on stderr) or an argparse error (exit status 2), and changes
nothing."""

import pytest
from django.core.management import CommandError, ManagementUtility, call_command

from taskqueue import flow
from taskqueue.audit import Actor
from taskqueue.limits import Limit, Rate
from taskqueue.models import AuditEvent
from tests.support.tasks import echo

ECHO = "tests.api.echo"
NO_LIMIT = Limit()


def tq(capsys, *argv) -> str:
    call_command("tq", "limits", *argv)
    return capsys.readouterr().out.strip()


def from_the_shell(capsys, *argv) -> tuple[int, str]:
    """`manage.py tq limits ...` as a shell runs it: (exit status, stderr)."""
    with pytest.raises(SystemExit) as exit_:
        ManagementUtility(["manage.py", "tq", "--skip-checks", "limits", *argv]).execute()
    return exit_.value.code, capsys.readouterr().err


def declare(broker, task: str | None = ECHO, *, rate=None, conc=None):
    limit = Limit(rate, conc)
    if task is None:
        broker.declare_limits("default", limit, [])
    else:
        broker.declare_limits("default", Limit(), [(task, limit)])


def hold(broker, n: int, *, own: Limit = NO_LIMIT, conc: int | None = None) -> None:
    """Echo limited to 1 a minute (and `conc` at once; the queue's own limits: `own`),
    n echo tasks claimed: one runs, n - 1 are held."""
    broker.declare_limits("default", own, [(ECHO, Limit(Rate(1, 60_000), conc))])
    for i in range(n):
        echo.enqueue(i)
    assert len(broker.claim("default", "w1", n)) == 1


def table(out: str) -> list[list[str]]:
    """The table's lines (after the first blank line, up to the next), split on runs of
    two or more spaces."""
    block = out.split("\n\n")[-2 if out.count("\n\n") > 1 else -1]
    return [[cell for cell in line.split("  ") if cell] for line in block.splitlines()]


def events():
    return AuditEvent.objects.filter(action=AuditEvent.Action.SET_LIMIT)


# -- show ------------------------------------------------------------------------------


def test_show_says_when_a_queue_has_no_limits(broker, capsys):
    assert tq(capsys, "show", "default") == "default: no limits."


def test_show_prints_a_line_per_scope_with_declared_limits_and_what_they_hold(broker, capsys):
    hold(broker, 3, own=Limit(concurrency=10))
    out = tq(capsys, "show", "default")
    assert out.splitlines()[0] == "default: 2 task(s) held back."
    assert [[c.strip() for c in row] for row in table(out)] == [
        ["SCOPE", "RATE", "CONCURRENCY", "DECLARED", "HELD", "RUNNING", "THROTTLED"],
        ["(queue)", "-", "10", "rate -, concurrency 10", "0", "1", "no"],
        [ECHO, "1/m", "-", "rate 1/m, concurrency -", "2", "0", "yes"],
    ]
    assert "set by an operator" not in out


def test_show_marks_what_an_operator_set(broker, capsys, db):
    declare(broker, rate=Rate(100, 1000), conc=3)
    flow.set_limit(
        Actor("tests", "system"), "default", ECHO, rate=Rate(5, 60_000, 4), concurrency=None
    )
    out = tq(capsys, "show", "default")
    row = [c.strip() for c in table(out)[1]]
    assert row[:4] == [ECHO, "5/m burst 4*", "-*", "rate 100/s, concurrency 3"]
    assert out.endswith("* set by an operator (`tq limits clear` goes back)")


# -- set and clear ---------------------------------------------------------------------


@pytest.mark.django_db
def test_set_writes_the_operator_s_limits_prints_them_and_is_audited(broker, capsys):
    out = tq(capsys, "set", "default", "--task", ECHO, "--rate", "100/m", "--burst", "10",
             "--concurrency", "5", "--user", "ops")  # fmt: skip
    assert out.splitlines()[0] == f"default, task {ECHO}: limits set; 0 held task(s) released."
    scope = flow.queue_limits("default").tasks[ECHO]
    assert (str(scope.rate), scope.rate.burst, scope.concurrency) == ("100/m", 10, 5)
    event = events().get()
    assert (event.actor, event.source, event.queue) == ("ops", "cli", "default")
    assert event.detail == {"task": ECHO, "rate": "100/m", "burst": 10, "concurrency": 5,
                            "released": 0}  # fmt: skip


@pytest.mark.django_db
def test_set_no_rate_releases_the_held_tasks_and_keeps_the_declared_concurrency(broker, capsys):
    hold(broker, 4, conc=2)
    out = tq(capsys, "set", "default", "--task", ECHO, "--no-rate")
    assert "3 held task(s) released." in out.splitlines()[0]
    scope = flow.queue_limits("default").tasks[ECHO]
    assert (scope.rate, scope.concurrency, scope.override_concurrency) == (None, 2, None)
    assert events().get().count == 3


@pytest.mark.django_db
def test_set_without_a_task_sets_the_queue_s_own_limits(broker, capsys):
    tq(capsys, "set", "default", "--concurrency", "4", "--no-rate")
    own = flow.queue_limits("default").own
    assert (own.concurrency, own.rate, own.override_rate) == (4, None, "")


@pytest.mark.django_db
def test_clear_goes_back_to_the_declared_limits_and_is_audited(broker, capsys):
    declare(broker, conc=3)
    tq(capsys, "set", "default", "--task", ECHO, "--no-concurrency")
    out = tq(capsys, "clear", "default", "--task", ECHO)
    assert out.splitlines()[0] == (
        f"default, task {ECHO}: back to the declared limits; 0 held task(s) released."
    )
    scope = flow.queue_limits("default").tasks[ECHO]
    assert (scope.concurrency, scope.overridden) == (3, False)
    assert events().latest("id").detail["concurrency"] == "declared"


# -- refusals --------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["set", "default"], "give a limit"),
        (["set", "default", "--burst", "3"], "--burst goes with --rate"),
        (["set", "default", "--rate", "fast"], "is not a rate"),
        (["set", "default", "--rate", "1" * 5000 + "/s"], "not a rate"),
        (["set", "default", "--rate", "1/s", "--burst", "0"], "burst must be"),
        (["set", "default", "--concurrency", "0"], "concurrency limit must be"),
        (["set", "default", "--concurrency", "5000"], "concurrency limit must be"),
        (["set", "default", "--task", "", "--concurrency", "1"], "task must be"),
        (["set", "typo", "--concurrency", "1"], "typo"),
        (["clear", "typo"], "typo"),
        (["show", "typo"], "typo"),
        (["show", "A:B"], "A:B"),
    ],
)
def test_bad_input_is_a_command_error_and_changes_nothing(broker, capsys, argv, message):
    with pytest.raises(CommandError, match=message):
        call_command("tq", "limits", *argv)
    assert not events().exists()
    assert flow.queue_limits("default").all() == []


@pytest.mark.django_db
def test_from_the_shell_an_error_is_one_line_and_exit_status_1(broker, capsys):
    status, err = from_the_shell(capsys, "set", "default", "--concurrency", "-1")
    assert status == 1
    assert err.strip().splitlines() == [
        "CommandError: concurrency limit must be a whole number from 1 to 1,000, not -1."
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["set", "default", "--rate", "1/s", "--no-rate"],
        ["set", "default", "--concurrency", "1", "--no-concurrency"],
        ["set", "default", "--concurrency", "many"],
        ["set", "default", "--burst", "1.5", "--rate", "1/s"],
        ["frobnicate", "default"],
        ["show"],
    ],
)
def test_malformed_arguments_are_usage_errors_with_exit_status_2(broker, capsys, argv):
    status, err = from_the_shell(capsys, *argv)
    assert status == 2 and "error:" in err


# -- tenants ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_set_a_tenant_s_limits_prints_them_and_is_audited(broker, capsys):
    out = tq(capsys, "set", "default", "--tenant", "acme", "--rate", "10/s", "--concurrency",
             "2", "--user", "ops")  # fmt: skip
    assert out.splitlines()[0] == "default, tenant acme: limits set; 0 held task(s) released."
    scope = flow.queue_limits("default").tenants["acme"]
    assert (scope.rate, scope.concurrency) == (Rate(10, 1000), 2)
    assert [c.strip() for c in table(out)[1][:3]] == ["tenant acme", "10/s*", "2*"]
    event = events().get()
    assert (event.actor, event.source) == ("ops", "cli")
    assert event.detail["tenant"] == "acme" and event.detail["task"] is None


@pytest.mark.django_db
def test_set_each_tenant_s_limit_with_a_star(broker, capsys):
    out = tq(capsys, "set", "default", "--tenant", "*", "--concurrency", "4")
    assert out.splitlines()[0] == "default, each tenant: limits set; 0 held task(s) released."
    limits = flow.queue_limits("default")
    assert limits.tenants["*"].concurrency == 4 and limits.own is None
    assert events().get().detail["tenant"] == "*"


def test_show_lists_each_tenant_s_limit_and_the_named_tenants(broker, capsys, db):
    broker.declare_limits("default", Limit(per_tenant=Limit(Rate(5, 1000), 3)), [])
    flow.set_limit(Actor("tests", "system"), "default", tenant="acme", concurrency=None)
    rows = [[c.strip() for c in row] for row in table(tq(capsys, "show", "default"))]
    assert rows[1:] == [
        ["(each tenant)", "5/s", "3", "rate 5/s, concurrency 3", "0", "0", "no"],
        ["tenant acme", "-", "-*", "-", "0", "0", "no"],
    ]


def test_show_leaves_out_scopes_without_limits(broker, capsys, db):
    """A worker writes an empty limit for each task it knows, a tenant quota a field
    of the tenants' scope: neither is a row."""
    broker.declare_limits("default", Limit(tenant_backlog=50), [(ECHO, NO_LIMIT)])
    out = tq(capsys, "show", "default")
    assert out == "default: no limits.\n\nQuotas: max backlog -, tenant backlog 50"


@pytest.mark.django_db
def test_clear_a_tenant_goes_back_and_leaves_the_quotas(broker, capsys):
    broker.declare_limits("default", Limit(per_tenant=Limit(concurrency=2)), [])
    tq(capsys, "set", "default", "--tenant", "acme", "--concurrency", "9")
    tq(capsys, "set", "default", "--tenant", "*", "--no-concurrency")
    tq(capsys, "set", "default", "--max-backlog", "100")
    out = tq(capsys, "clear", "default", "--tenant", "acme")
    assert out.splitlines()[0] == (
        "default, tenant acme: back to the declared limits; 0 held task(s) released."
    )
    limits = flow.queue_limits("default")
    assert "acme" not in limits.tenants and limits.tenants["*"].concurrency is None
    assert limits.max_backlog == 100  # a tenant's clear is not the queue's
    tq(capsys, "clear", "default", "--tenant", "*")
    scope = flow.queue_limits("default").tenants["*"]
    assert (scope.concurrency, scope.overridden) == (2, False)
    assert events().latest("id").detail["tenant"] == "*"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["set", "default", "--tenant", "acme", "--task", ECHO, "--concurrency", "1"],
         "A limit is a task name's or a tenant's: give --task or --tenant, not both."),
        (["clear", "default", "--tenant", "*", "--task", ECHO], "give --task or --tenant"),
        (["set", "default", "--tenant", "a b", "--concurrency", "1"],
         "--tenant must be 1 to 100 letters, digits or _ . : @ -"),
        (["set", "default", "--tenant", "", "--concurrency", "1"], "--tenant must be 1 to 100"),
        (["set", "default", "--tenant", "acmé", "--concurrency", "1"], "--tenant must be"),
        (["set", "default", "--tenant", "a\nb", "--concurrency", "1"], "--tenant must be"),
        (["set", "default", "--tenant", "**", "--concurrency", "1"], "--tenant must be"),
        (["set", "default", "--tenant=-x", "--concurrency", "1"], "--tenant must be"),
        (["set", "default", "--tenant", "t" * 101, "--concurrency", "1"], "--tenant must be"),
        (["clear", "default", "--tenant", "<x>"], "--tenant must be"),
        (["set", "default", "--tenant", "acme", "--max-backlog", "5"],
         "--max-backlog and --tenant-backlog are the queue's: not with --task or --tenant."),
        (["set", "default", "--tenant", "*", "--no-tenant-backlog"], "not with --task or --tenant"),
        (["set", "default", "--tenant", "acme"], "give a limit"),
        (["set", "default", "--tenant", "acme", "--concurrency", "-3"], "concurrency limit must"),
        (["set", "typo", "--tenant", "acme", "--concurrency", "1"], "typo"),
    ],
)  # fmt: skip
def test_bad_tenant_input_is_a_command_error_and_changes_nothing(broker, capsys, argv, message):
    with pytest.raises(CommandError) as refused:
        call_command("tq", "limits", *argv)
    assert message in str(refused.value)
    assert not events().exists()
    assert flow.queue_limits("default").all() == []


@pytest.mark.django_db
def test_a_huge_tenant_is_refused_in_one_short_line(broker, capsys):
    status, err = from_the_shell(capsys, "set", "default", "--tenant", "ä" * 100_000,
                                 "--concurrency", "1")  # fmt: skip
    lines = err.strip().splitlines()
    assert status == 1 and len(lines) == 1 and len(lines[0]) < 300
    assert lines[0].startswith("CommandError: --tenant must be 1 to 100 letters")
