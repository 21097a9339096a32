"""API tokens. Only a SHA-256 hash of the secret is stored, with a short visible prefix
to tell tokens apart; the secret itself is shown once, when the token is created."""

from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    class Scope(models.TextChoices):
        READ = "read", "read: list and inspect tasks, queues, workers, metrics"
        ENQUEUE = "enqueue", "enqueue: create tasks"
        OPERATE = "operate", "operate: cancel, retry, delete, pause, purge, DLQ actions"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'billing'.")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list)
    queues = models.JSONField(
        default=list,
        blank=True,
        help_text="The queues the token may touch; empty: every queue (its user may see).",
    )
    tenants = models.JSONField(
        default=list,
        blank=True,
        help_text="The tenants whose tasks the token may touch; empty: every tenant's.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def label(self) -> str:
        """How the token appears as an actor in the audit trail: 'user/token name'."""
        return f"{self.user.get_username()}/{self.name}"
