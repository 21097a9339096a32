"""The roles the migrations create: viewers see the admin lists but cannot act,
operators can act (through the service layer, audited)."""

import pytest
from django.contrib.auth.models import Group

from taskqueue import archive
from taskqueue.models import AuditEvent, TaskArchive
from taskqueue.status import Status
from tests.support.records import make_dead
from tests.support.tasks import add

from . import finished

pytestmark = pytest.mark.django_db
VIEWERS, OPERATORS = "Task queue viewers", "Task queue operators"
ARCHIVE = "/admin/taskqueue/taskarchive/"
PAGES = ["/admin/taskqueue/auditevent/", ARCHIVE]


def member_of(django_user_model, client, group: str, *, staff: bool = True):
    user = django_user_model.objects.create_user(group.split()[-1], is_staff=staff)
    user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    return user


@pytest.fixture
def dead_row(broker):
    task_id = make_dead(broker, add.enqueue(1, 2))
    archive.archive_once()
    return TaskArchive.objects.get(task_id=task_id)


def test_the_migrations_create_both_groups_with_their_permissions():
    def codenames(name):
        return set(Group.objects.get(name=name).permissions.values_list("codename", flat=True))

    viewing = {"view_console", "view_auditevent", "view_taskarchive"}
    assert codenames(VIEWERS) == viewing
    assert codenames(OPERATORS) == viewing | {"operate_tasks"}


def test_a_viewer_opens_the_admin_lists_but_cannot_act(client, django_user_model, dead_row, broker):
    user = member_of(django_user_model, client, VIEWERS)
    assert user.has_perm("taskqueue.view_console")
    assert not user.has_perm("taskqueue.operate_tasks")
    for page in PAGES:
        assert client.get(page).status_code == 200
    assert client.get(f"{ARCHIVE}{dead_row.pk}/change/").status_code == 200
    assert "retry_tasks" not in client.get(ARCHIVE).text
    client.post(ARCHIVE, {"action": "retry_tasks", "_selected_action": [dead_row.pk]})
    assert broker.get("default", dead_row.task_id).status == Status.DEAD
    assert AuditEvent.objects.count() == 0


def test_an_operator_can_act_and_is_audited(client, django_user_model, dead_row, broker):
    user = member_of(django_user_model, client, OPERATORS)
    assert "retry_tasks" in client.get(ARCHIVE).text
    client.post(ARCHIVE, {"action": "retry_tasks", "_selected_action": [dead_row.pk]})
    assert broker.get("default", dead_row.task_id).status == Status.PENDING
    event = finished.only_event()
    assert (event.actor, event.user_id, event.source, event.action) == (
        user.username,
        user.pk,
        "admin",
        "retry",
    )


def test_the_admin_needs_staff_status_as_well(client, django_user_model):
    member_of(django_user_model, client, OPERATORS, staff=False)
    for page in PAGES:
        response = client.get(page)
        assert response.status_code == 302 and "/admin/login/" in response.url


def test_a_user_without_a_role_sees_nothing(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("nobody", is_staff=True))
    for page in PAGES:
        assert client.get(page).status_code == 403
