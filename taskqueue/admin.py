"""Django admin for the audit trail and the task archive: both read-only for everyone,
superusers included (no add, change or delete, nor a bulk delete). The archive offers
operator actions (retry, purge from the DLQ) that go through taskqueue.services, so
they are audited with source "admin"; only users with taskqueue.operate_tasks see them.
"""

import json

from django.contrib import admin, messages
from django.contrib.admin import AllValuesFieldListFilter, DateFieldListFilter
from django.urls import reverse
from django.utils.html import format_html

from . import services
from .audit import Actor
from .errors import TaskQueueError
from .models import AuditEvent, TaskArchive

OPERATE = "taskqueue.operate_tasks"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Nobody adds, changes or deletes these rows through the admin."""

    show_full_result_count = False  # no extra COUNT(*) of a large table per filtered page

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def console_link(task_id: str):
    if not task_id:
        return "-"
    return format_html('<a href="{}">{}</a>', reverse("dashboard:task", args=[task_id]), task_id)


def pretty_json(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True))


def event_task_ids(event: AuditEvent) -> list[str]:
    """Every task id an event names: its target, and the ids of a bulk or DLQ action."""
    detail = event.detail if isinstance(event.detail, dict) else {}
    ids = [event.task_id] if event.task_id else []
    for key in ("ids", "new_ids"):
        ids += [i for i in detail.get(key) or [] if isinstance(i, str)]
    return list(dict.fromkeys(ids))


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "actor",
        "source",
        "action",
        "target",
        "count",
        "filter_summary",
        "status_before",
        "status_after",
        "ip",
    )
    list_filter = (
        "action",
        "source",
        ("queue", AllValuesFieldListFilter),
        ("actor", AllValuesFieldListFilter),
        ("created_at", DateFieldListFilter),
    )
    search_fields = ("=task_id", "actor")
    search_help_text = "A task id (also finds bulk and DLQ actions that touched it), or an actor."
    date_hierarchy = "created_at"
    actions = None
    fields = (
        "created_at",
        "actor",
        "user",
        "source",
        "action",
        "queue",
        "task",
        "count",
        "filter_json",
        "status_before",
        "status_after",
        "archived_tasks",
        "ip",
        "user_agent",
        "detail_json",
    )
    readonly_fields = fields

    @admin.display(description="target")
    def target(self, event: AuditEvent):
        if event.task_id:
            return console_link(event.task_id)
        if len(event_task_ids(event)) > 1:
            return self.archived_tasks(event)
        return event.queue or "-"

    @admin.display(description="task")
    def task(self, event: AuditEvent):
        return console_link(event.task_id)

    @admin.display(description="filter")
    def filter_summary(self, event: AuditEvent) -> str:
        flt = event.filter if isinstance(event.filter, dict) else {}
        shown = [f"{k}={v}" for k, v in sorted(flt.items()) if k != "ids"]
        if "ids" in flt:
            shown.append(f"{len(flt['ids'])} ids")
        return " ".join(shown) or "-"

    @admin.display(description="filter")
    def filter_json(self, event: AuditEvent):
        return pretty_json(event.filter) if event.filter else "-"

    @admin.display(description="detail")
    def detail_json(self, event: AuditEvent):
        return pretty_json(event.detail) if event.detail else "-"

    @admin.display(description="tasks in the archive")
    def archived_tasks(self, event: AuditEvent):
        ids = event_task_ids(event)
        if not ids:
            return "-"
        url = reverse("admin:taskqueue_taskarchive_changelist")
        label = f"{len(ids)} task{'s' if len(ids) > 1 else ''}"
        return format_html('<a href="{}?audit_event={}">{}</a>', url, event.pk, label)

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term and " " not in term and '"' not in term:
            results |= queryset.filter(detail__icontains=f'"{term}"')
        return results, may_have_duplicates


class AuditEventFilter(admin.SimpleListFilter):
    """?audit_event=<id>: the archived tasks an audit event names (e.g. a requeue)."""

    title = "audit event"
    parameter_name = "audit_event"

    def lookups(self, request, model_admin):
        value = self.value()
        return [(value, f"event #{value}")] if value and value.isdigit() else []

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        event = AuditEvent.objects.filter(pk=value).first() if value.isdigit() else None
        return queryset.filter(task_id__in=event_task_ids(event) if event else [])


@admin.register(TaskArchive)
class TaskArchiveAdmin(ReadOnlyAdmin):
    list_display = (
        "task",
        "name",
        "queue",
        "status",
        "error_type",
        "attempts",
        "finished_at",
    )
    list_filter = (
        "status",
        ("queue", AllValuesFieldListFilter),
        ("error_type", AllValuesFieldListFilter),
        ("finished_at", DateFieldListFilter),
        AuditEventFilter,
    )
    search_fields = ("=task_id", "name", "=queue", "=status", "error_type")
    search_help_text = "A task id, a task name, a queue, a status or an exception type."
    date_hierarchy = "finished_at"
    actions = ["retry_tasks", "purge_dead_letters"]
    fields = (
        "task",
        "name",
        "queue",
        "status",
        "attempts",
        "failures",
        "created_at",
        "started_at",
        "finished_at",
        "worker",
        "dead_reason",
        "error_type",
        "error_message",
        "traceback_text",
        "args_json",
        "kwargs_json",
        "result_json",
        "archived_at",
        "audit_trail",
    )
    readonly_fields = fields

    @admin.display(description="task id", ordering="task_id")
    def task(self, row: TaskArchive):
        return console_link(row.task_id)

    @admin.display(description="traceback")
    def traceback_text(self, row: TaskArchive):
        return format_html("<pre>{}</pre>", row.traceback) if row.traceback else "-"

    @admin.display(description="args")
    def args_json(self, row: TaskArchive):
        return pretty_json(row.args)

    @admin.display(description="kwargs")
    def kwargs_json(self, row: TaskArchive):
        return pretty_json(row.kwargs)

    @admin.display(description="result")
    def result_json(self, row: TaskArchive):
        return pretty_json(row.result) if row.result is not None else "-"

    @admin.display(description="audit events")
    def audit_trail(self, row: TaskArchive):
        url = reverse("admin:taskqueue_auditevent_changelist")
        return format_html('<a href="{}?q={}">events naming this task</a>', url, row.task_id)

    def has_operate_permission(self, request) -> bool:
        return request.user.has_perm(OPERATE)

    @admin.action(description="Retry selected tasks (if still in Redis)", permissions=["operate"])
    def retry_tasks(self, request, queryset):
        self._act(request, queryset, "retried", lambda a, ids: services.bulk(a, "retry", ids))

    @admin.action(description="Purge selected tasks from the DLQ", permissions=["operate"])
    def purge_dead_letters(self, request, queryset):
        self._act(request, queryset, "purged", lambda a, ids: services.purge_dead(a, ids=ids))

    def _act(self, request, queryset, verb: str, action) -> None:
        ids = list(queryset.values_list("task_id", flat=True)[: services.MAX_IDS + 1])
        try:
            outcome = action(Actor.from_request(request, "admin"), ids)
        except TaskQueueError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        done = outcome if isinstance(outcome, int) else len(outcome.done)
        skipped = len(ids) - done
        note = f"; {skipped} skipped (no longer in Redis, or not in a state for it)"
        self.message_user(request, f"{done} task(s) {verb}{note if skipped else ''}.")
