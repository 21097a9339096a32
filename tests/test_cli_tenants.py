"""`tq limits set|show|clear` with the queue's quotas, and `tq tenants QUEUE`
(docs/flow-control.md#quotas): quotas set through taskqueue.flow.set_quota, audited
with the CLI's actor; tenants' backlogs from tasks enqueued with a tenant. Bad input
is a CommandError and changes nothing."""

import pytest
from django.core.management import CommandError, call_command

from taskqueue import flow
from taskqueue.limits import Limit
from taskqueue.models import AuditEvent
from tests.factories import make_task
from tests.support.tasks import echo

pytestmark = pytest.mark.django_db

ECHO = "tests.api.echo"


def tq(capsys, *argv) -> str:
    call_command("tq", *argv)
    return capsys.readouterr().out.strip()


def in_force() -> tuple:
    limits = flow.queue_limits("default")
    return limits.max_backlog, limits.tenant_backlog


def quota_events():
    return AuditEvent.objects.filter(
        action=AuditEvent.Action.SET_LIMIT, detail__has_key="max_backlog"
    )


def enqueue(broker, *tenants: str) -> None:
    broker.enqueue([make_task(tenant=tenant) for tenant in tenants])


# -- quotas ------------------------------------------------------------------------------


def test_set_gives_the_queue_quotas_and_show_prints_them(broker, capsys):
    out = tq(capsys, "limits", "set", "default", "--max-backlog", "500", "--tenant-backlog", "50")
    assert out.splitlines()[0] == "default: limits set; 0 held task(s) released."
    assert in_force() == (500, 50)
    assert tq(capsys, "limits", "show", "default").splitlines()[-1] == (
        "Quotas: max backlog 500, tenant backlog 50"
    )


def test_no_quota_lifts_a_declared_one_and_one_not_given_goes_back_to_declared(broker, capsys):
    broker.declare_limits("default", Limit(max_backlog=500, tenant_backlog=50), [])
    tq(capsys, "limits", "set", "default", "--max-backlog", "100", "--tenant-backlog", "10")
    tq(capsys, "limits", "set", "default", "--no-tenant-backlog")
    assert in_force() == (500, None)


def test_quotas_alone_leave_the_rate_and_concurrency_as_they_are(broker, capsys):
    tq(capsys, "limits", "set", "default", "--concurrency", "3")
    tq(capsys, "limits", "set", "default", "--max-backlog", "100")
    assert flow.queue_limits("default").own.concurrency == 3
    assert in_force() == (100, None)


def test_a_limit_alone_leaves_the_quotas_as_they_are(broker, capsys):
    tq(capsys, "limits", "set", "default", "--max-backlog", "100")
    tq(capsys, "limits", "set", "default", "--concurrency", "3")
    assert in_force() == (100, None)


def test_a_quota_change_is_audited_with_the_cli_actor(broker, capsys):
    tq(capsys, "limits", "set", "default", "--tenant-backlog", "7", "--user", "ops")
    event = quota_events().get()
    assert (event.actor, event.source, event.queue) == ("ops", "cli", "default")
    assert event.detail == {"max_backlog": "declared", "tenant_backlog": 7}


def test_clear_puts_the_queue_quotas_back_to_declared(broker, capsys):
    broker.declare_limits("default", Limit(tenant_backlog=50), [])
    tq(capsys, "limits", "set", "default", "--max-backlog", "100", "--no-tenant-backlog")
    tq(capsys, "limits", "clear", "default")
    assert in_force() == (None, 50)


def test_clear_of_a_task_leaves_the_quotas(broker, capsys):
    tq(capsys, "limits", "set", "default", "--max-backlog", "100")
    tq(capsys, "limits", "clear", "default", "--task", ECHO)
    assert in_force() == (100, None)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--task", ECHO, "--max-backlog", "5"], "not with --task"),
        (["--task", ECHO, "--no-tenant-backlog"], "not with --task"),
        (["--max-backlog", "0"], "--max-backlog must be a whole number"),
        (["--tenant-backlog", "1000000001"], "--tenant-backlog must be a whole number"),
        (["--concurrency", "0", "--max-backlog", "5"], "concurrency limit must be"),
    ],
)
def test_bad_quotas_are_a_command_error_and_change_nothing(broker, argv, message):
    with pytest.raises(CommandError, match=message):
        call_command("tq", "limits", "set", "default", *argv)
    assert in_force() == (None, None)
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.SET_LIMIT).exists()


def test_a_quota_and_its_no_form_together_are_an_argparse_error(broker, capsys):
    with pytest.raises(CommandError, match="not allowed with"):
        call_command("tq", "limits", "set", "default", "--max-backlog", "5", "--no-max-backlog")


# -- tq tenants --------------------------------------------------------------------------


def test_tenants_lists_the_largest_backlogs_and_the_quota(broker, capsys):
    broker.declare_limits("default", Limit(tenant_backlog=50_000), [])
    enqueue(broker, "acme", "acme", "tiny")
    echo.enqueue(1)  # no tenant: not counted
    lines = tq(capsys, "tenants", "default").splitlines()
    assert lines[0] == ("default: 2 tenant(s) with unfinished tasks; tenant backlog quota 50,000.")
    assert [line.split() for line in lines[2:]] == [["TENANT", "BACKLOG"], ["acme", "2"],
                                                    ["tiny", "1"]]  # fmt: skip


def test_tenants_of_a_queue_without_any(broker, capsys):
    assert tq(capsys, "tenants", "default") == (
        "default: 0 tenant(s) with unfinished tasks; tenant backlog quota none."
    )


def test_tenants_beyond_the_20_largest_are_counted(broker, capsys):
    enqueue(broker, *(f"t{i:02}" for i in range(23)))
    lines = tq(capsys, "tenants", "default").splitlines()
    assert lines[0].startswith("default: 23 tenant(s)")
    assert len(lines) == 2 + 1 + 20 + 1
    assert lines[-1] == "(and 3 more)"


def test_tenants_of_an_unknown_queue_is_a_command_error(broker):
    with pytest.raises(CommandError, match="typo"):
        call_command("tq", "tenants", "typo")
