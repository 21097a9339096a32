"""Database models of the engine: the audit trail of operator actions, and the durable
archive of finished tasks (see docs/audit.md)."""

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """Who did what to which task or queue, when and from where. Written only by the
    service layer (taskqueue.audit.record), after the action succeeded."""

    class Source(models.TextChoices):
        CONSOLE = "console"
        API = "api", "API"
        CLI = "cli", "CLI"
        ADMIN = "admin"
        SYSTEM = "system"

    class Action(models.TextChoices):
        ENQUEUE = "enqueue", "enqueue (API)"
        CANCEL = "cancel"
        RETRY = "retry"
        DELETE = "delete"
        RUN_NOW = "run_now", "run now"
        REQUEUE_DEAD = "requeue_dead", "requeue from DLQ"
        PURGE_DEAD = "purge_dead", "purge DLQ"
        PURGE_QUEUE = "purge_queue", "purge queue"
        PAUSE = "pause"
        RESUME = "resume"
        TOKEN_CREATED = "token_created", "API token created"
        TOKEN_REVOKED = "token_revoked", "API token revoked"
        PRUNE_AUDIT = "prune_audit", "prune audit trail"
        LOGIN_LOCKED = "login_locked", "login locked out"
        LOGIN_UNLOCKED = "login_unlocked", "login unlocked"
        ENQUEUE_WORKFLOW = "enqueue_workflow", "enqueue workflow (API)"
        CANCEL_WORKFLOW = "cancel_workflow", "cancel workflow"
        SET_LIMIT = "set_limit", "set a flow-control limit"
        QUIET_WORKER = "quiet_worker", "quiet a worker"
        STOP_WORKER = "stop_worker", "stop a worker"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=150, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=10, choices=Source.choices)
    action = models.CharField(max_length=20, choices=Action.choices, db_index=True)
    queue = models.CharField(max_length=63, blank=True, db_index=True)
    task_id = models.CharField(max_length=64, blank=True, db_index=True)
    count = models.PositiveIntegerField(default=1)
    filter = models.JSONField(default=dict, blank=True)
    status_before = models.CharField(max_length=20, blank=True)
    status_after = models.CharField(max_length=20, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("view_console", "Can view the task queue console and read the API"),
            ("operate_tasks", "Can act on tasks and queues (retry, cancel, purge, pause…)"),
        ]

    def __str__(self) -> str:
        target = self.task_id or self.queue or "-"
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {target}"


class TaskArchive(models.Model):
    """A finished task (dead, cancelled, or completed when enabled) copied from Redis by
    taskqueue.archive, so its history outlives the Redis TTLs. Secret-looking keys of
    args, kwargs and result are masked before they get here."""

    task_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200, db_index=True)
    queue = models.CharField(max_length=63, db_index=True)
    status = models.CharField(max_length=20, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True, db_index=True)
    worker = models.CharField(max_length=200, blank=True)
    error_type = models.CharField(max_length=200, blank=True, db_index=True)
    error_message = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    args = models.JSONField(null=True, blank=True)
    kwargs = models.JSONField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    dead_reason = models.CharField(max_length=40, blank=True)
    archived_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-finished_at", "-id"]
        verbose_name = "archived task"

    def __str__(self) -> str:
        return f"{self.name} {self.task_id} ({self.status})"


class ArchiveCheckpoint(models.Model):
    """How far the archiver got in one Redis sorted set: the (score, member) of the last
    entry it archived. Saved in the same transaction as the rows it covers."""

    prefix = models.CharField(max_length=32)
    queue = models.CharField(max_length=63)
    kind = models.CharField(max_length=10)  # completed, cancelled or dead
    score = models.FloatField()
    member = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["prefix", "queue", "kind"], name="taskqueue_checkpoint_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.prefix} · {self.queue} · {self.kind} @ {self.score:.0f}"
